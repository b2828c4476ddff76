/// The product's identity: its version, and the implementation identity written into rebuilt files.
public enum KioskAgentVersion {
    public static let string = "0.1.0"
    /// Our DICOM implementation identity, written into every rebuilt file's meta group (PS3.7 D.3.3.2).
    /// 2.25.<UUID as integer>: a root needing no registration (PS3.5 B.2).
    public static let implementationClassUID = "2.25.247052315883478297315346227372404093715"
    public static let implementationVersionName = "KIOSK_AGENT_010"
}
