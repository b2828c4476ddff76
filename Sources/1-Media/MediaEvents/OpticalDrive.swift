import CCdio
import Foundation

/// An optical drive through libcdio's Linux driver: whether a disc is in, locking the tray while
/// the disc is read, and ejecting it. One owner per `CdIo_t *`.
public final class OpticalDrive {
    private let handle: OpaquePointer
    public let device: String

    public enum DriveError: Error, Equatable, CustomStringConvertible {
        case cannotOpen(String)
        /// A libcdio driver_return_code_t other than DRIVER_OP_SUCCESS, by name.
        case driver(String, String)

        public var description: String {
            switch self {
            case let .cannotOpen(device): "\(device) cannot be opened as an optical drive"
            case let .driver(what, code): "\(what): \(code)"
            }
        }
    }

    public init(device: String) throws(DriveError) {
        guard let handle = cdio_open(device, DRIVER_LINUX) else { throw .cannotOpen(device) }
        self.handle = handle
        self.device = device
    }

    deinit { cdio_destroy(handle) }

    /// Whether the medium changed since the last call (1), did not (0), or the drive cannot say.
    public var mediaChanged: Bool? {
        switch cdio_get_media_changed(handle) {
        case 0: false
        case 1: true
        default: nil
        }
    }

    /// MMC PREVENT/ALLOW MEDIUM REMOVAL: the eject button does nothing while a disc is read.
    public func lockTray(_ locked: Bool) throws(DriveError) {
        let result = mmc_prevent_allow_medium_removal(handle, 0, locked ? 1 : 0, 0)   // libcdio's own bool typedef: uint8_t
        guard result == DRIVER_OP_SUCCESS else { throw .driver(locked ? "lock tray" : "unlock tray", Self.name(result)) }
    }

    /// Unlocks and opens the tray (done, or on the operator's request).
    public func eject() throws(DriveError) {
        try? lockTray(false)
        let result = cdio_eject_media_drive(device)
        guard result == DRIVER_OP_SUCCESS else { throw .driver("eject", Self.name(result)) }
    }

    /// Every documented driver_return_code_t (cdio/device.h).
    static func name(_ code: driver_return_code_t) -> String {
        switch code {
        case DRIVER_OP_SUCCESS: "success"
        case DRIVER_OP_ERROR: "error"
        case DRIVER_OP_UNSUPPORTED: "not supported by this drive"
        case DRIVER_OP_UNINIT: "driver not initialised"
        case DRIVER_OP_NOT_PERMITTED: "not permitted"
        case DRIVER_OP_BAD_PARAMETER: "bad parameter"
        case DRIVER_OP_BAD_POINTER: "bad pointer"
        case DRIVER_OP_NO_DRIVER: "no driver"
        case DRIVER_OP_MMC_SENSE_DATA: "the drive reported an error (MMC sense data)"
        default: "code \(code.rawValue)"
        }
    }
}
