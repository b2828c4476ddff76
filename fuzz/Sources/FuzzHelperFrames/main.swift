import CFuzzerDriver
import Foundation
import HelperProtocol

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzHelperFrames_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// What an exploited media helper could send the agent: the frames on the pipe, each decoded as
/// the message its kind announces. Inputs stay within one pipe buffer (max_len 65536), so the
/// bytes are written whole before the reader starts.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size <= 65536 else { return 0 }
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return 0 }
    var done = 0
    while done < size {
        let n = write(fds[1], data + done, size - done)
        if n <= 0 { break }
        done += n
    }
    close(fds[1])
    defer { close(fds[0]) }
    let reader = FrameReader(fd: fds[0])
    while true {
        do {
            guard let frame = try reader.next(timeout: 1) else { break }
            switch frame.kind {
            case .job: _ = try? frame.decode(HelperJob.self)
            case .scanResult: _ = try? frame.decode(HelperScanResult.self)
            case .opened: _ = try? frame.decode(HelperOpened.self)
            case .inventory: _ = try? frame.decode(HelperInventory.self)
            case .progress: _ = try? frame.decode(HelperProgress.self)
            case .record: _ = try? frame.decode(HelperRecord.self)
            case .end: _ = try? frame.decode(HelperEnd.self)
            case .scan: _ = try? frame.decode(HelperScan.self)
            case .fileSet: _ = try? frame.decode(HelperFileSet.self)
            case .failed: _ = try? frame.decode(HelperFailure.self)
            case .patients: _ = try? frame.decode(HelperPatients.self)
            case .proceed, .stop, .chunk, .done: break
            }
        } catch {
            break
        }
    }
    return 0
}
