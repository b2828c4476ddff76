import DICOMCore
import SessionReport

/// Does the instance suit the destination (issue 3, part 7)? A SOP class the PACS does not accept
/// is not delivered; a transfer syntax it does not accept is converted when that is lossless
/// (native pixel data, re-encoded as explicit VR little endian), never by decoding or
/// recompressing an image (THREATS.md 9: untrusted codestreams are not decoded here).
enum CompatibilityCheck {
    struct Outcome {
        var observations: [Observation] = []
        var target: TransferSyntax?
    }

    static func check(_ summary: InstanceSummary, _ syntax: TransferSyntax, _ accepted: Compatibility) -> Outcome {
        var outcome = Outcome()
        if let classes = accepted.sopClasses, !classes.contains(summary.sopClassUID) {
            outcome.observations.append(Observation(Finding(.pacsUnsupportedSOPClass, .medium,
                "the destination does not accept SOP class \(summary.sopClassUID)", element: Tag.sopClassUID.description), remedy: .reject))
        }
        // Deflated data sets are always written inflated (explicit VR little endian).
        let written = syntax.deflated ? TransferSyntax.explicitVRLittleEndian : (TransferSyntax.known(syntax.uid) ?? syntax)
        guard let syntaxes = accepted.transferSyntaxes, !syntaxes.contains(written.uid) else { return outcome }
        let target = TransferSyntax.explicitVRLittleEndian
        if !written.encapsulated, syntaxes.contains(target.uid) {
            outcome.target = target
            outcome.observations.append(Observation(Finding(.pacsConverted, .info,
                "converted losslessly from \(written.name) to \(target.name), which the destination accepts")))
        } else {
            let why = written.encapsulated ? "compressed images are never decoded or recompressed here" : "no accepted syntax it converts to losslessly"
            outcome.observations.append(Observation(Finding(.pacsUnsupportedTransferSyntax, .medium,
                "the destination does not accept \(written.name) (\(why))", element: Tag.transferSyntaxUID.description), remedy: .reject))
        }
        return outcome
    }
}
