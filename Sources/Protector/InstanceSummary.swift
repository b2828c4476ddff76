import DICOMCore

/// The identifying attributes of one instance, as the archive index, the report's study list and
/// the identity check need them. Text is decoded with the file's Specific Character Set.
public struct InstanceSummary: Sendable, Equatable {
    public var sopClassUID = ""
    public var sopInstanceUID = ""
    public var studyInstanceUID = ""
    public var seriesInstanceUID = ""
    public var patientID = ""
    public var patientName = ""
    public var birthDate = ""
    public var modality = ""
    public var studyDate = ""
    public var studyDescription = ""
    public var institutionName = ""
    public var transferSyntaxUID = ""

    public init() {}
}
