/// How a data set is encoded (PS3.5 §10, PS3.6 Annex A).
public struct TransferSyntax: Sendable, Hashable, CustomStringConvertible {
    public let uid: String
    public let explicitVR: Bool
    public let bigEndian: Bool
    public let deflated: Bool
    /// Pixel Data is a sequence of compressed fragments.
    public let encapsulated: Bool
    public let name: String

    public init(uid: String, explicitVR: Bool, bigEndian: Bool = false, deflated: Bool = false,
                encapsulated: Bool = false, name: String) {
        self.uid = uid; self.explicitVR = explicitVR; self.bigEndian = bigEndian
        self.deflated = deflated; self.encapsulated = encapsulated; self.name = name
    }

    public var description: String { "\(name) (\(uid))" }

    public static let implicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2", explicitVR: false, name: "Implicit VR Little Endian")
    public static let explicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1", explicitVR: true, name: "Explicit VR Little Endian")
    public static let deflatedExplicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1.99", explicitVR: true, deflated: true, name: "Deflated Explicit VR Little Endian")
    public static let explicitVRBigEndian = TransferSyntax(uid: "1.2.840.10008.1.2.2", explicitVR: true, bigEndian: true, name: "Explicit VR Big Endian (retired)")

    /// Every standard transfer syntax. Anything else is `nil` from `known(_:)`.
    public static let all: [TransferSyntax] = [
        implicitVRLittleEndian, explicitVRLittleEndian, deflatedExplicitVRLittleEndian, explicitVRBigEndian,
        .encapsulated("1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian"),
        .encapsulated("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)"),
        .encapsulated("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)"),
        .encapsulated("1.2.840.10008.1.2.4.53", "JPEG Extended (Process 3 & 5) (retired)"),
        .encapsulated("1.2.840.10008.1.2.4.55", "JPEG Spectral Selection (retired)"),
        .encapsulated("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)"),
        .encapsulated("1.2.840.10008.1.2.4.70", "JPEG Lossless, First-Order Prediction (Process 14 SV1)"),
        .encapsulated("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless"),
        .encapsulated("1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless"),
        .encapsulated("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless"),
        .encapsulated("1.2.840.10008.1.2.4.91", "JPEG 2000"),
        .encapsulated("1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Lossless"),
        .encapsulated("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component"),
        .encapsulated("1.2.840.10008.1.2.4.94", "JPIP Referenced"),
        .encapsulated("1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate"),
        .encapsulated("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level"),
        .encapsulated("1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level"),
        .encapsulated("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile"),
        .encapsulated("1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile"),
        .encapsulated("1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile For 2D Video"),
        .encapsulated("1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile For 3D Video"),
        .encapsulated("1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile"),
        .encapsulated("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile"),
        .encapsulated("1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile"),
        .encapsulated("1.2.840.10008.1.2.4.110", "JPEG XL Lossless"),
        .encapsulated("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression"),
        .encapsulated("1.2.840.10008.1.2.4.112", "JPEG XL"),
        .encapsulated("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Lossless"),
        .encapsulated("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 RPCL Lossless"),
        .encapsulated("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000"),
        .encapsulated("1.2.840.10008.1.2.5", "RLE Lossless"),
    ]

    private static let byUID: [String: TransferSyntax] = Dictionary(uniqueKeysWithValues: all.map { ($0.uid, $0) })

    public static func known(_ uid: String) -> TransferSyntax? { byUID[uid] }

    private static func encapsulated(_ uid: String, _ name: String) -> TransferSyntax {
        TransferSyntax(uid: uid, explicitVR: true, encapsulated: true, name: name)
    }
}
