import CUdev
import Foundation
import POSIX

/// Owner of a `struct udev *` (libudev's library context).
final class UdevContext: @unchecked Sendable {
    let handle: OpaquePointer

    init() throws(MediaEventError) {
        guard let handle = udev_new() else { throw .udev("udev_new failed") }
        self.handle = handle
    }

    deinit { udev_unref(handle) }
}

/// Owner of a `struct udev_device *`, with the properties the classifier reads.
final class UdevDevice {
    private let handle: OpaquePointer

    /// Takes over a reference returned by libudev.
    init(taking handle: OpaquePointer) { self.handle = handle }

    deinit { udev_device_unref(handle) }

    var action: String? { udev_device_get_action(handle).map { String(cString: $0) } }
    var devnode: String? { udev_device_get_devnode(handle).map { String(cString: $0) } }
    var sysname: String { udev_device_get_sysname(handle).map { String(cString: $0) } ?? "" }
    var syspath: String { udev_device_get_syspath(handle).map { String(cString: $0) } ?? "" }
    var subsystem: String { udev_device_get_subsystem(handle).map { String(cString: $0) } ?? "" }
    var devtype: String? { udev_device_get_devtype(handle).map { String(cString: $0) } }

    func property(_ name: String) -> String? {
        udev_device_get_property_value(handle, name).map { String(cString: $0) }
    }

    func sysattr(_ name: String) -> String? {
        udev_device_get_sysattr_value(handle, name).map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    var tags: Set<String> {
        var tags = Set<String>()
        var entry = udev_device_get_tags_list_entry(handle)
        while let current = entry {
            if let name = udev_list_entry_get_name(current) { tags.insert(String(cString: name)) }
            entry = udev_list_entry_get_next(current)
        }
        return tags
    }

    /// What the classifier needs, as plain values.
    var snapshot: DeviceSnapshot {
        var properties: [String: String] = [:]
        for name in DeviceSnapshot.propertyNames { if let value = property(name) { properties[name] = value } }
        return DeviceSnapshot(action: action ?? "", subsystem: subsystem, sysname: sysname, devnode: devnode, devtype: devtype,
                              properties: properties, tags: tags, size: sysattr("size").flatMap { Int64($0) })
    }
}

/// Owner of a `struct udev_monitor *` on the "udev" netlink group (events after udev's rules ran,
/// so ID_FS_TYPE, ID_CDROM_MEDIA and our rules' tag are there). Sendable because after set-up only
/// the watcher's one thread receives from it.
final class UdevMonitor: @unchecked Sendable {
    private let context: UdevContext
    private let handle: OpaquePointer
    /// libudev's own socket, closed by `udev_monitor_unref`: no `Descriptor` owns it.
    let fd: Int32

    init(context: UdevContext, subsystems: [String]) throws(MediaEventError) {
        self.context = context
        guard let handle = udev_monitor_new_from_netlink(context.handle, "udev") else {
            throw .udev("cannot open the udev netlink monitor (is systemd-udevd running?)")
        }
        self.handle = handle
        for subsystem in subsystems {
            // Filters run in the kernel (BPF): other subsystems never wake us.
            let result = udev_monitor_filter_add_match_subsystem_devtype(handle, subsystem, nil)
            guard result >= 0 else { udev_monitor_unref(handle); throw .udev("filter \(subsystem): error \(-result)") }
        }
        let result = udev_monitor_enable_receiving(handle)
        guard result >= 0 else { udev_monitor_unref(handle); throw .udev("enable receiving: error \(-result)") }
        fd = udev_monitor_get_fd(handle)
    }

    deinit { udev_monitor_unref(handle) }

    /// The next queued device event, or nil when none is waiting (the socket is non-blocking).
    func receive() -> UdevDevice? { udev_monitor_receive_device(handle).map { UdevDevice(taking: $0) } }
}

/// Devices present now, for media already inserted when the agent starts.
enum UdevEnumeration {
    static func devices(_ context: UdevContext, subsystem: String) throws(MediaEventError) -> [UdevDevice] {
        guard let enumerate = udev_enumerate_new(context.handle) else { throw .udev("udev_enumerate_new failed") }
        defer { udev_enumerate_unref(enumerate) }
        guard udev_enumerate_add_match_subsystem(enumerate, subsystem) >= 0, udev_enumerate_scan_devices(enumerate) >= 0 else {
            throw .udev("cannot enumerate \(subsystem) devices")
        }
        var devices: [UdevDevice] = []
        var entry = udev_enumerate_get_list_entry(enumerate)
        while let current = entry {
            if let path = udev_list_entry_get_name(current), let device = udev_device_new_from_syspath(context.handle, path) {
                devices.append(UdevDevice(taking: device))
            }
            entry = udev_list_entry_get_next(current)
        }
        return devices
    }
}

public enum MediaEventError: Error, Equatable, CustomStringConvertible {
    case udev(String)
    case system(String, errno: Int32)

    public var description: String {
        switch self {
        case let .udev(what): "udev: \(what)"
        case let .system(what, code): "\(what): \(String(cString: strerror(code)))"
        }
    }
}

/// systemd-udevd, which turns the kernel's device events into the "udev" netlink events the
/// watcher listens to (after its rules ran). Without it the monitor opens fine and simply never
/// hears anything, so the service asks: does something accept connections on udevd's control
/// socket (what `udevadm control --ping` talks to)? A socket file left by a udevd that died refuses.
public enum UdevDaemon {
    public static let controlSocket = "/run/udev/control"

    public static var isRunning: Bool {
        guard let socket = try? Descriptor.socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue)) else { return false }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(controlSocket.utf8) + [0]
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }
}
