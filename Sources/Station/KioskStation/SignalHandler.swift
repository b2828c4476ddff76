import Foundation
import IngestPipeline

/// Signals delivered to a handler on a dispatch queue instead of their default action. The
/// dispatch sources live exactly as long as this object, and the owner ends them with `cancel()`
/// after its run: that call is what keeps them alive in an optimised build (a source released
/// early never fires, and the signal, set to SIG_IGN so the source can take it, is then lost —
/// the service would ignore systemd's SIGTERM until SIGKILL).
public final class SignalHandler: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    public init(_ signals: [Int32], _ handler: @escaping @Sendable () -> Void) {
        sources = signals.map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    /// SIGTERM and SIGINT: systemd's stop and Ctrl-C.
    public static func termination(_ handler: @escaping @Sendable () -> Void) -> SignalHandler {
        SignalHandler([SIGTERM, SIGINT], handler)
    }

    public func cancel() {
        for source in sources where !source.isCancelled { source.cancel() }
    }

    deinit { cancel() }
}
