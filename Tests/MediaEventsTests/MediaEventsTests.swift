import Foundation
import TestSupport
import XCTest
@testable import MediaEvents

/// The rules on the properties udev really sets (seen with `udevadm monitor --property`).
final class MediaClassifierTests: XCTestCase {
    private func block(_ action: String, _ sysname: String, devtype: String = "disk", _ properties: [String: String],
                       size: Int64? = 1000) -> DeviceSnapshot {
        DeviceSnapshot(action: action, subsystem: "block", sysname: sysname, devnode: "/dev/\(sysname)", devtype: devtype,
                       properties: properties, size: size)
    }

    func testOpticalDiscsComeAndGoWithChangeEvents() {
        var presence = MediaPresence(includeLoopDevices: false)
        let drive = ["ID_CDROM": "1", "ID_BUS": "ata"]
        XCTAssertEqual(presence.events(for: block("add", "sr0", drive)), [], "an empty drive is not a medium")
        let disc = drive.merging(["ID_CDROM_MEDIA": "1", "ID_FS_TYPE": "iso9660", "ID_FS_LABEL": "PATIENT_CD"]) { $1 }
        XCTAssertEqual(presence.events(for: block("change", "sr0", disc)),
                       [.inserted(MediaDevice(devnode: "/dev/sr0", kind: .optical, label: "PATIENT_CD", fileSystem: "iso9660"))])
        XCTAssertEqual(presence.events(for: block("change", "sr0", disc)), [], "udev repeats change events")
        XCTAssertEqual(presence.events(for: block("change", "sr0", drive.merging(["DISK_MEDIA_CHANGE": "1"]) { $1 })),
                       [.removed(devnode: "/dev/sr0")])
        // A different disc straight after (no "no media" event between): out, then in.
        _ = presence.events(for: block("change", "sr0", disc))
        let other = disc.merging(["ID_FS_LABEL": "OTHER", "ID_FS_TYPE": "udf"]) { $1 }
        XCTAssertEqual(presence.events(for: block("change", "sr0", other)).count, 2)
    }

    func testUSBSticksUseTheirPartitionsAndLoopsNeedToBeAskedFor() {
        var presence = MediaPresence(includeLoopDevices: false)
        let usb = ["ID_BUS": "usb"]
        XCTAssertEqual(presence.events(for: block("add", "sdb", usb.merging(["ID_PART_TABLE_TYPE": "dos"]) { $1 })), [])
        XCTAssertEqual(presence.events(for: block("add", "sdb1", devtype: "partition",
                                                  usb.merging(["ID_FS_TYPE": "vfat", "ID_FS_LABEL": "USBSTICK"]) { $1 })),
                       [.inserted(MediaDevice(devnode: "/dev/sdb1", kind: .usb, label: "USBSTICK", fileSystem: "vfat"))])
        XCTAssertEqual(presence.events(for: block("remove", "sdb1", devtype: "partition", usb)), [.removed(devnode: "/dev/sdb1")])
        XCTAssertEqual(presence.events(for: block("add", "sda1", devtype: "partition", ["ID_BUS": "ata", "ID_FS_TYPE": "ext4"])), [],
                       "internal disks are never media")
        XCTAssertEqual(presence.events(for: block("change", "loop0", ["ID_FS_TYPE": "iso9660"])), [], "loops only when asked for")
        var labs = MediaPresence(includeLoopDevices: true)
        XCTAssertEqual(labs.events(for: block("change", "loop0", ["ID_FS_TYPE": "iso9660", "ID_FS_LABEL": "CD"])).count, 1)
        XCTAssertEqual(labs.events(for: block("change", "loop0", [:], size: 0)), [.removed(devnode: "/dev/loop0")])
    }

    func testAKeyboardAppearingIsReported() {
        var presence = MediaPresence(includeLoopDevices: false)
        let hid = DeviceSnapshot(action: "add", subsystem: "hid", sysname: "0003:05AC:024F.0001", devnode: nil, devtype: nil,
                                 properties: ["HID_NAME": "Rubber Ducky Keyboard"])
        XCTAssertEqual(presence.events(for: hid), [.hidAttached(name: "Rubber Ducky Keyboard")])
        var removed = hid
        removed.action = "remove"
        XCTAssertEqual(presence.events(for: removed), [])
    }

    func testOpeningSomethingThatIsNotADriveIsATypedError() {
        XCTAssertThrowsError(try OpticalDrive(device: "/nonexistent/sr9")) { error in
            XCTAssertEqual(error as? OpticalDrive.DriveError, .cannotOpen("/nonexistent/sr9"))
        }
    }
}

/// The real thing: systemd-udevd with the project's rules, a patient disc image on a loop device.
final class MediaWatcherTests: XCTestCase {
    final class Box: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [MediaEvent] = []
        func add(_ event: MediaEvent) { lock.withLock { events.append(event) } }
        var all: [MediaEvent] { lock.withLock { events } }
    }

    private func wait(_ box: Box, seconds: Double = 15, until condition: ([MediaEvent]) -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition(box.all) { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition(box.all)
    }

    func testALoopDeviceWithADiscImageIsInsertedThenRemoved() throws {
        let udev = try UdevPeer(rules: TestSupport.packageRoot.appendingPathComponent("udev-rules/70-kiosk-agent.rules"))
        let dir = try TestSupport.TemporaryDirectory("media-watch")
        let image = dir.path("disc.iso")
        let tree = dir.url.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        try Data("hello".utf8).write(to: tree.appendingPathComponent("README.TXT"))
        try TestSupport.run("genisoimage", ["-quiet", "-J", "-R", "-V", "WATCH_CD", "-o", image, tree.path])

        let ignoring = try MediaWatcher(includeLoopDevices: false)
        let watcher = try MediaWatcher(includeLoopDevices: true)
        let seen = Box(), ignored = Box()
        let streams = [(watcher.events(), seen), (ignoring.events(), ignored)]
        for (stream, box) in streams {
            Task.detached { for await event in stream { box.add(event) } }
        }
        let loop = try LoopDevice(image: image)
        udev.settle()
        XCTAssertTrue(wait(seen) { $0.contains(.inserted(MediaDevice(devnode: loop.path, kind: .loop, label: "WATCH_CD",
                                                                     fileSystem: "iso9660"))) }, "\(seen.all)")
        XCTAssertTrue(try watcher.present().contains { $0.devnode == loop.path }, "enumeration finds it too")
        loop.detach()
        udev.settle()
        XCTAssertTrue(wait(seen) { $0.contains(.removed(devnode: loop.path)) }, "\(seen.all)")
        XCTAssertEqual(seen.all.filter { if case .inserted = $0 { true } else { false } }.count, 1, "one insert per medium")
        XCTAssertTrue(ignored.all.isEmpty, "without --include-loop-devices a loop is no medium: \(ignored.all)")
        watcher.stop()
        ignoring.stop()
    }
}
