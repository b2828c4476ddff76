import GRDB

/// One instance in the embedded archive's index. Identified by its SOP Instance UID.
public struct ArchivedInstance: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "instance"

    public var sopInstanceUID: String
    public var sopClassUID: String
    public var studyInstanceUID: String
    public var seriesInstanceUID: String
    public var patientID: String
    public var patientName: String
    public var birthDate: String
    public var modality: String
    public var studyDate: String
    public var studyDescription: String
    public var transferSyntaxUID: String
    /// Path of the rebuilt file, relative to the archive root.
    public var path: String
    public var size: Int64
    /// SHA-256 of the rebuilt file as stored.
    public var sha256: String
    /// SHA-256 of the original file as read from the media.
    public var sourceSHA256: String
    public var sessionID: String
    public var storedAt: Double

    public init(sopInstanceUID: String, sopClassUID: String, studyInstanceUID: String, seriesInstanceUID: String,
                patientID: String, patientName: String, birthDate: String, modality: String, studyDate: String,
                studyDescription: String, transferSyntaxUID: String, path: String = "", size: Int64, sha256: String,
                sourceSHA256: String, sessionID: String, storedAt: Double = 0) {
        self.sopInstanceUID = sopInstanceUID; self.sopClassUID = sopClassUID; self.studyInstanceUID = studyInstanceUID
        self.seriesInstanceUID = seriesInstanceUID; self.patientID = patientID; self.patientName = patientName
        self.birthDate = birthDate; self.modality = modality; self.studyDate = studyDate
        self.studyDescription = studyDescription; self.transferSyntaxUID = transferSyntaxUID; self.path = path
        self.size = size; self.sha256 = sha256; self.sourceSHA256 = sourceSHA256; self.sessionID = sessionID
        self.storedAt = storedAt
    }

    /// The index row of a staged file once it is in place.
    init(_ staged: StagedInstance, storedAt: Double) {
        let instance = staged.instance
        self.init(sopInstanceUID: instance.sopInstanceUID, sopClassUID: instance.sopClassUID, studyInstanceUID: instance.studyInstanceUID,
                  seriesInstanceUID: instance.seriesInstanceUID, patientID: instance.patientID, patientName: instance.patientName,
                  birthDate: instance.birthDate, modality: instance.modality, studyDate: instance.studyDate,
                  studyDescription: instance.studyDescription, transferSyntaxUID: instance.transferSyntaxUID, path: staged.path,
                  size: staged.bytes.size, sha256: staged.bytes.sha256, sourceSHA256: instance.sourceSHA256, sessionID: instance.sessionID,
                  storedAt: storedAt)
    }
}
