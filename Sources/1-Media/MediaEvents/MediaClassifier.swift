import Foundation

/// A device event reduced to what decides whether it is a medium: plain values, so the rules are
/// tested with the properties udev really sets, without a device.
public struct DeviceSnapshot: Sendable, Equatable {
    public var action: String
    public var subsystem: String
    public var sysname: String
    public var devnode: String?
    public var devtype: String?
    public var properties: [String: String]
    public var tags: Set<String>
    /// 512-byte sectors (sysfs `size`).
    public var size: Int64?

    static let propertyNames = ["ID_CDROM", "ID_CDROM_MEDIA", "ID_BUS", "ID_FS_TYPE", "ID_FS_LABEL", "ID_PART_TABLE_TYPE",
                                "DISK_MEDIA_CHANGE", "ID_INPUT_KEYBOARD", "ID_INPUT_MOUSE", "HID_NAME", "ID_MODEL", "ID_VENDOR",
                                "NAME", "PRODUCT"]

    public init(action: String, subsystem: String, sysname: String, devnode: String?, devtype: String?,
                properties: [String: String], tags: Set<String> = [], size: Int64? = nil) {
        self.action = action; self.subsystem = subsystem; self.sysname = sysname; self.devnode = devnode
        self.devtype = devtype; self.properties = properties; self.tags = tags; self.size = size
    }
}

/// A medium the kiosk can read: a disc in an optical drive, a USB stick (or one of its
/// partitions), or — only when asked for — a loop device holding an image.
public struct MediaDevice: Sendable, Equatable, Hashable {
    public enum Kind: String, Sendable { case optical, usb, loop }

    public var devnode: String
    public var kind: Kind
    public var label: String
    /// What udev's blkid probe found (iso9660, udf, vfat, exfat…); nil for a raw USB disk.
    public var fileSystem: String?
}

public enum MediaEvent: Sendable, Equatable {
    case inserted(MediaDevice)
    case removed(devnode: String)
    /// A keyboard or other HID device appeared while the kiosk runs: a "USB stick" can be one (BadUSB).
    case hidAttached(name: String)
}

/// The rules that turn udev device events into media events. Devices are never mounted; the
/// `kiosk-agent` tag from udev-rules/70-kiosk-agent.rules marks optical and USB storage, loop
/// devices count only with `includeLoopDevices`.
public enum MediaClassifier {
    /// What the device holds now, if it is a medium: nil for a drive without a disc, a USB disk
    /// whose partitions carry the file systems, or a device that is not ours.
    public static func medium(_ device: DeviceSnapshot, includeLoopDevices: Bool) -> MediaDevice? {
        guard device.subsystem == "block", let devnode = device.devnode, device.action != "remove" else { return nil }
        let label = device.properties["ID_FS_LABEL"] ?? ""
        let fileSystem = device.properties["ID_FS_TYPE"].flatMap { $0.isEmpty ? nil : $0 }
        if device.properties["ID_CDROM"] == "1" {
            guard device.properties["ID_CDROM_MEDIA"] == "1" else { return nil }
            return MediaDevice(devnode: devnode, kind: .optical, label: label, fileSystem: fileSystem)
        }
        if device.sysname.hasPrefix("loop") {
            guard includeLoopDevices, fileSystem != nil, (device.size ?? 1) > 0 else { return nil }
            return MediaDevice(devnode: devnode, kind: .loop, label: label, fileSystem: fileSystem)
        }
        if device.properties["ID_BUS"] == "usb", device.devtype == "disk" || device.devtype == "partition" {
            // A partitioned stick: its partitions are the media, not the disk.
            guard fileSystem != nil, device.properties["ID_PART_TABLE_TYPE"] == nil || device.devtype == "partition" else { return nil }
            return MediaDevice(devnode: devnode, kind: .usb, label: label, fileSystem: fileSystem)
        }
        return nil
    }

    public static func isHumanInterface(_ device: DeviceSnapshot) -> Bool {
        guard device.action == "add" else { return false }
        if device.subsystem == "hid" { return true }
        return device.subsystem == "input" && (device.properties["ID_INPUT_KEYBOARD"] == "1" || device.properties["ID_INPUT_MOUSE"] == "1")
            && device.devnode == nil && device.sysname.hasPrefix("input")
    }
}

/// Which media are present, so that the repeated "change" events udev sends become one inserted
/// and one removed per medium.
public struct MediaPresence: Sendable {
    public let includeLoopDevices: Bool
    private var present: [String: MediaDevice] = [:]

    public init(includeLoopDevices: Bool) { self.includeLoopDevices = includeLoopDevices }

    /// Media already reported (found present at start), so their next "change" is not a second insert.
    public mutating func assumePresent(_ media: [MediaDevice]) {
        for medium in media { present[medium.devnode] = medium }
    }

    public mutating func events(for device: DeviceSnapshot) -> [MediaEvent] {
        if MediaClassifier.isHumanInterface(device) {
            let name = device.properties["HID_NAME"] ?? device.properties["NAME"]?.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                ?? device.properties["ID_MODEL"] ?? device.sysname
            return [.hidAttached(name: name)]
        }
        guard device.subsystem == "block", let devnode = device.devnode else { return [] }
        let medium = MediaClassifier.medium(device, includeLoopDevices: includeLoopDevices)
        switch (present[devnode], medium) {
        case (nil, let medium?):
            present[devnode] = medium
            return [.inserted(medium)]
        case (let known?, let medium?) where known != medium:
            // Another disc without a "no media" event in between (a fast swap): out, then in.
            present[devnode] = medium
            return [.removed(devnode: devnode), .inserted(medium)]
        case (_?, nil):
            present[devnode] = nil
            return [.removed(devnode: devnode)]
        default:
            return []
        }
    }
}
