import CFuzzerDriver
import DICOMNetwork
import NIOCore
import NIOEmbedded

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzPDU_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// What a PACS (or anything answering on its port) sends back: the PDU frame decoder and the PDU
/// body decoder, in a channel as the association runs them, fed in pieces as TCP delivers them.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(PDUFrameDecoder(maxLength: 1 << 20)))
    defer { _ = try? channel.finish() }
    // The first byte sets the piece size, so the decoder also sees PDUs split across reads.
    let piece = max(1, Int(bytes.first ?? 0))
    var offset = 0
    while offset < size {
        let end = min(size, offset + piece)
        do { try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<end])) } catch { return 0 }
        while let pdu = try? channel.readInbound(as: PDU.self) { _ = pdu }
        offset = end
    }
    return 0
}
