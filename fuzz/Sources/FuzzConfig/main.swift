import AgentConfiguration
import CFuzzerDriver

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzConfig_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// The configuration file (a TOML subset): whatever IT or a bad copy-paste puts there parses or
/// names the line; a configuration that parses must describe itself again identically.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let first = try Configuration(parsing: text)
        // Deterministic: the same text gives the same configuration.
        let second = try Configuration(parsing: text)
        precondition(second == first)
    } catch let error as Configuration.Error {
        precondition(error.line >= 0 && !error.message.isEmpty)
    } catch {
        preconditionFailure("unexpected error type: \(error)")
    }
    return 0
}
