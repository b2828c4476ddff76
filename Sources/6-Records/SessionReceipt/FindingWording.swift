import SessionReport

/// Plain words for staff and patients for each finding code (ARCHITECTURE.md §3.3). One sentence
/// each, fixed text only: the finding's `detail` may name paths or signatures, so it is never shown
/// here, and nothing here ever carries patient data.
public enum FindingWording {
    /// For a code of a family this table does not know yet.
    public static let fallback = "Something was noticed and handled; the full report has the details."

    public static func explain(_ code: FindingCode) -> String {
        codes[code] ?? families[code.family] ?? fallback
    }

    /// A finding's sentence: routine clean-up gets words that say so (a code such as
    /// `structure.trailing-data` is routine for padding and not for bytes after the data set).
    public static func explain(_ finding: Finding) -> String {
        finding.routineRemoval.map(explain) ?? explain(finding.code)
    }

    /// Routine clean-up, worded so that nobody reads it as a threat.
    static func explain(_ routine: RoutineRemoval) -> String {
        switch routine {
        case .privateData: "Private manufacturer data was removed, as on every import (routine, not a threat)."
        case .padding: "Empty padding at the end of an image file was removed, as on every import (routine, not a threat)."
        case .icon: "A small preview picture inside an image file was removed, as the hospital's rules say (routine, not a threat)."
        case .overlay: "An overlay drawn over an image was removed, as the hospital's rules say (routine, not a threat)."
        case .tiffPreamble: "A second picture format at the start of an image file was cleared, as on every import (routine, not a threat)."
        }
    }

    /// Codes that deserve their own sentence.
    static let codes: [FindingCode: String] = [
        .preambleExecutable: "A program hidden at the start of an image file was removed.",
        .preambleScript: "A script hidden at the start of an image file was removed.",
        .preambleTIFF: "A second picture format hidden at the start of an image file was cleared.",
        .structureTruncated: "An image file was cut short; it was repaired where possible or refused.",
        .structureTrailingData: "Extra data after the end of an image file was removed.",
        .structureRemoved: "A part of an image file that the hospital's rules do not accept was removed or the file refused.",
        .structureUIDFormat: "An image identifier is written in an old-fashioned way; it was kept, as the hospital's archive accepts it.",
        .pixelExcessData: "Extra data stored after the picture in an image file was removed.",
        .malwareEngineFailure: "A virus scanner could not give an answer for a file, so the file was refused to be safe.",
        .privateRemoved: "Private manufacturer data was removed, as on every import (routine, not a threat).",
        .privateKept: "Private manufacturer data that the hospital allows was kept.",
        .documentTypeMismatch: "A document inside an image file was not what it claimed to be and was removed or refused.",
        .documentExecutable: "A document inside an image file contained a program and was removed or refused.",
        .dicomdirPathTraversal: "The disc's index pointed outside the disc; those entries were ignored.",
        .dicomdirMissingFile: "The disc's index listed files that are not on the disc.",
        .dicomdirUnlistedFile: "Some image files were missing from the disc's index; they were found and checked anyway.",
        .dicomdirAbsent: "The disc has no readable index; every file was found by searching the disc.",
        .mediaPathTraversal: "A file name on the disc tried to point outside the disc; the file was given a safe name and checked like every other.",
        .mediaIOError: "Part of the disc could not be read.",
        .mediaTruncated: "A file on the disc ended early and could not be read completely.",
        .mediaUnreadable: "The disc could not be read.",
        .mediaProbe: "A note on how the disc was recognised was kept for IT.",
        .mediaLinkIgnored: "Shortcuts on the disc were not followed, for safety.",
        .mediaNoDICOM: "No medical images (DICOM files) were found on this disc; nothing was imported.",
        .mediaLimitExceeded: "The disc held more than the safety limits allow; the rest was not read.",
        .mediaHelperCrashed: "Reading the disc was stopped for safety (the reader failed); what was read before was checked and kept.",
        .mediaHelperTimeout: "Reading the disc stopped making progress and was ended; what was read before was checked and kept.",
        .mediaHelperProtocol: "Reading the disc was stopped for safety; what was read before was checked and kept.",
        .mediaHelperFailed: "The disc reader could not be started; nothing was read. Please call IT.",
        .mediaSandboxFailed: "The disc reader's safety protections could not be switched on, so nothing was read. Please call IT.",
        .identityMismatch: "The images do not belong to the patient given at the desk.",
        .identityUnverified: "The patient on the images could not be checked against the patient at the desk.",
        .identityMultiplePatients: "The disc holds images of more than one patient.",
        .identityOverride: "Staff imported images that did not match the patient at the desk and recorded why.",
        .identityMatch: "The images match the patient at the desk, allowing for small differences.",
        .pacsUnsupportedSOPClass: "The hospital's image system does not accept this kind of image.",
        .pacsUnsupportedTransferSyntax: "The hospital's image system does not accept the way this image is stored.",
        .pacsConverted: "An image was converted, without loss, to a format the hospital's image system accepts.",
        .executableDiscarded: "A program on the disc (such as a viewer) was left out.",
        .executableEmbedded: "A program hidden inside an image file was removed, or the file refused where the image needed that part.",
        .pixelCodestreamTrailing: "Hidden data after the end of a compressed picture was cut off (or the file refused).",
        .documentActiveContent: "A document inside an image file could run scripts or open other files; it was not passed on.",
        .autorunDiscarded: "An autorun file that would start a program was left out.",
        .contentDiscarded: "A file that is not an image (such as a web page or document) was left out.",
        .reconciliationCoerced: "Patient identifiers were set to the hospital's values; the originals are kept inside the images.",
        .reconciliationUIDReplaced: "A missing or invalid image identifier was replaced with a valid one.",
        .reconciliationUnencodable: "Patient details could not be set to the hospital's values, so the file was refused.",
        .deliveryPending: "Some images are waiting to be sent and will be retried automatically.",
        .deliveryRefused: "The hospital's image system refused some images; they are kept for IT.",
        .deliveryDiskFull: "The station ran out of storage space, so some images could not be saved.",
        .deliveryAlreadyDelivered: "Some images had already been sent before and were not sent twice.",
        .deliveryAlreadyArchived: "Some images were already stored before and were not stored twice.",
        .deliveryUIDConflict: "A different image with the same identifier was already stored, so this one was not sent.",
        .deliveryWarning: "The hospital's image system accepted some images with a warning.",
    ]

    /// Every family, so a code added inside a family later still gets fitting words.
    static let families: [FindingCode.Family: String] = [
        .preamble: "Unexpected data at the start of an image file was cleared.",
        .structure: "An image file was badly formed; it was repaired where possible or refused.",
        .pixel: "The picture data in an image file was inconsistent; it was repaired where possible or refused.",
        .malware: "Malware was found; the affected part was removed or the file refused.",
        .private: "Private manufacturer data in the images was checked.",
        .document: "A document stored inside an image file was checked.",
        .dicomdir: "The disc's index was incomplete or damaged; every file was found anyway.",
        .media: "The disc was damaged or unusual; everything that could be read safely was read.",
        .identity: "The patient details need attention.",
        .pacs: "An image needed attention to fit the hospital's image system.",
        .executable: "A program was found and kept out.",
        .autorun: "An autorun file that would start a program was left out.",
        .content: "A file that is not a medical image was left out.",
        .reconciliation: "Image details were adjusted to match the hospital's records.",
        .delivery: "Sending the images needed attention; IT can see the details.",
    ]
}
