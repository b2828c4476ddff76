import DICOMCore

/// The identifying attributes of one instance, as the archive index, the report's study list and
/// the identity check need them. Text is decoded with the file's Specific Character Set.
public struct InstanceSummary: Sendable, Equatable, Codable {
    public var sopClassUID = ""
    public var sopInstanceUID = ""
    public var studyInstanceUID = ""
    public var seriesInstanceUID = ""
    public var patientID = ""
    public var issuerOfPatientID = ""
    public var patientName = ""
    public var birthDate = ""
    public var sex = ""
    public var modality = ""
    public var studyDate = ""
    public var studyDescription = ""
    public var institutionName = ""
    public var transferSyntaxUID = ""

    public init() {}
}

extension InstanceSummary {
    /// Reads the summary from a parsed file; text is decoded with its Specific Character Set.
    public init(_ file: DICOMFile) {
        let ds = file.dataSet
        let charset = SpecificCharacterSet(ds.strings(Tag.specificCharacterSet))
        func text(_ tag: Tag) -> String {
            guard let bytes = ds.textBytes(tag) else { return "" }
            return charset.decode(bytes, vr: ds[tag]?.vr.rawValue ?? "LO")
        }
        self.init()
        sopClassUID = ds.string(Tag.sopClassUID) ?? file.meta.string(Tag.mediaStorageSOPClassUID) ?? ""
        sopInstanceUID = ds.string(Tag.sopInstanceUID) ?? file.meta.string(Tag.mediaStorageSOPInstanceUID) ?? ""
        studyInstanceUID = ds.string(Tag.studyInstanceUID) ?? ""
        seriesInstanceUID = ds.string(Tag.seriesInstanceUID) ?? ""
        patientID = text(Tag.patientID)
        issuerOfPatientID = text(Tag.issuerOfPatientID)
        patientName = text(Tag.patientName)
        birthDate = ds.string(Tag.patientBirthDate) ?? ""
        sex = ds.string(Tag.patientSex) ?? ""
        modality = ds.string(Tag.modality) ?? ""
        studyDate = ds.string(Tag.studyDate) ?? ""
        studyDescription = text(Tag.studyDescription)
        institutionName = text(Tag.institutionName)
        transferSyntaxUID = file.transferSyntax.deflated ? TransferSyntax.explicitVRLittleEndian.uid : file.transferSyntax.uid
    }
}
