import CCdio
#if canImport(Glibc)
import Glibc
#endif

/// An ISO9660 file system (with Rock Ridge or Joliet names) on an image file or block device,
/// listed through libiso9660 and read with `pread` on the image.
///
/// Names: Rock Ridge when the primary tree carries it, else the Joliet tree, else level-1
/// identifiers without their ";1" version and trailing dot. Files over 4 GiB (multi-extent)
/// are reported as problems, not read.
public final class ISO9660Volume: Volume {
    public let filesystem = FilesystemType.iso9660
    public let label: String
    private let image: SystemFile
    private let handle: ISO9660Handle
    private let root: ISORecord
    private let joliet: Bool

    /// Directory extents larger than this are refused before anything allocates for them.
    static let maxDirectoryBytes: UInt32 = 16 << 20

    public convenience init(path: String) throws(MediaError) {
        try self.init(image: try SystemFile(readOnly: path))
    }

    init(image: SystemFile) throws(MediaError) {
        let path = image.path
        self.image = image
        let descriptors = try ISODescriptors(image: image)
        let rockRidge = ISO9660Volume.hasRockRidge(image: image, root: descriptors.primary.root)
        // libiso9660 reopens the file by name: go through our descriptor so both see the same file.
        let byDescriptor = "/proc/self/fd/\(image.descriptor)"
        // With Rock Ridge, keep libiso9660 on the primary tree (Joliet trees carry no RR entries).
        guard let handle = ISO9660Handle(path: byDescriptor,
                                         extensions: rockRidge ? iso_extension_mask_t(ISO_EXTENSION_NONE)
                                                               : iso_extension_mask_t(ISO_EXTENSION_ALL)) else {
            throw .unsupported("\(path): libiso9660 does not accept this ISO9660 volume")
        }
        self.handle = handle
        if handle.jolietLevel > 0 {
            guard let tree = descriptors.joliet else { throw .corrupt("\(path): Joliet level without a Joliet descriptor") }
            root = tree.root
            label = tree.volumeID
            joliet = true
        } else {
            root = descriptors.primary.root
            label = descriptors.primary.volumeID
            joliet = false
        }
    }

    /// RRIP 4.1: the "." record of the root directory starts its system use area with SUSP "SP"
    /// (magic BE EF); Rock Ridge entries follow in the records of the tree.
    /// An unreadable root is reported by the walk; here it just means "no Rock Ridge".
    static func hasRockRidge(image: SystemFile, root: ISORecord) -> Bool {
        guard let block = try? readDirectoryBytes(image: image, extent: root.extent, size: min(root.size, 2048)),
              let first = try? ISORecords.scan(block).first, first.identifier == [0] else { return false }
        let suspStart = 34  // 33 + identifier length 1, rounded up to even
        return block[0] > suspStart + 6
            && block[suspStart] == 0x53 && block[suspStart + 1] == 0x50
            && block[suspStart + 4] == 0xBE && block[suspStart + 5] == 0xEF
    }

    /// Reads a directory extent as libiso9660 does (whole 2048-byte blocks), after checking that
    /// it lies inside the image and under `maxDirectoryBytes`.
    static func readDirectoryBytes(image: SystemFile, extent: UInt32, size: UInt32) throws(MediaError) -> [UInt8] {
        guard size > 0, size <= maxDirectoryBytes else {
            throw .corrupt("directory extent \(extent) claims \(size) bytes")
        }
        let blocks = (Int64(size) + 2047) / 2048
        let start = Int64(extent) * 2048
        guard start + blocks * 2048 <= image.size else {
            throw .corrupt("directory extent \(extent) (\(size) bytes) lies outside the \(image.size)-byte image")
        }
        let bytes = try image.readBytes(at: start, count: Int(blocks * 2048))
        guard bytes.count == Int(blocks * 2048) else {
            throw .shortRead("directory extent \(extent) ends at byte \(start + Int64(bytes.count))")
        }
        return bytes
    }

    private struct PendingDirectory {
        let path: MediaPath
        /// The path in libiso9660's own names, for `iso9660_ifs_readdir`; empty when a name on
        /// the way cannot be looked up (a hostile `/`, `.`, `..` or empty name): then the directory
        /// is listed from its extent alone.
        let cdioPath: [UInt8]
        let record: ISORecord
        /// Extents of this directory and its ancestors: meeting one again is a loop.
        let ancestors: [UInt32]
    }

    /// A CL placeholder met during the walk, listed once its relocated directory has been seen.
    private struct ChildLink {
        let path: MediaPath
        let target: UInt32
        let ancestors: [UInt32]
    }

    public func walk(limits: WalkLimits, visit: (MediaEntry) -> Void, problem: (MediaProblem) -> Void) {
        var budget = WalkBudget(limits)
        var listed: Set<UInt32> = [root.extent]
        var stack = [PendingDirectory(path: .root, cdioPath: Array("/".utf8), record: root, ancestors: [root.extent])]
        // Rock Ridge deep-directory relocation (mkisofs moves levels > 8 into "rr_moved"):
        // RE directories by extent, with the physical path libiso9660 can look up.
        var relocated: [UInt32: (path: MediaPath, cdioPath: [UInt8], record: ISORecord, ancestors: [UInt32])] = [:]
        var childLinks: [ChildLink] = []
        while !budget.exhausted {
            guard let directory = stack.popLast() else {
                // Everything reachable is listed: resolve the placeholders whose targets were seen.
                let ready = childLinks.filter { relocated[$0.target] != nil }
                if ready.isEmpty {
                    // Relocated directories no placeholder claimed would hide their files: list them where they are.
                    let orphans = relocated.filter { !listed.contains($0.key) }.sorted { $0.value.path < $1.value.path }
                    guard !orphans.isEmpty else { break }
                    for (extent, orphan) in orphans.reversed() {
                        listed.insert(extent)
                        problem(MediaProblem(path: orphan.path, error: .corrupt("\(orphan.path): relocated directory that no child link points to")))
                        stack.append(PendingDirectory(path: orphan.path, cdioPath: orphan.cdioPath, record: orphan.record,
                                                      ancestors: orphan.ancestors + [extent]))
                    }
                    continue
                }
                childLinks.removeAll { relocated[$0.target] != nil }
                for link in ready.reversed() {
                    guard let target = relocated[link.target] else { continue }
                    guard listed.insert(link.target).inserted else {
                        problem(MediaProblem(path: link.path, error: .crossLink("\(link.path) links to a directory listed elsewhere")))
                        continue
                    }
                    stack.append(PendingDirectory(path: link.path, cdioPath: target.cdioPath, record: target.record,
                                                  ancestors: link.ancestors + [link.target]))
                }
                continue
            }
            let children: [(ISORecord, ISOStat)]
            do throws(MediaError) { children = try list(directory) }
            catch { problem(.unlisted(directory.path, error, locator: .init(start: Int64(directory.record.extent) * 2048))); continue }
            var siblings = SiblingNames(children.lazy.filter { !$0.0.isSelfOrParent }.map { Array(self.displayName($0.0, $0.1).utf8) })
            // What libiso9660's path lookup can match for each record met so far in this directory.
            var lookupKeys: Set<[UInt8]> = []
            var subdirectories: [PendingDirectory] = []
            for (record, stat) in children where !record.isSelfOrParent {
                guard !budget.exhausted else { break }
                let shadowed = lookupKeys.contains(stat.cdioName)
                defer {
                    lookupKeys.insert(stat.cdioName)
                    if !joliet, !stat.rockRidge { lookupKeys.insert(ISO9660Volume.translated(stat.cdioName)) }
                }
                let cdioPath = directory.cdioPath.isEmpty || !ISO9660Volume.canLookUp(stat.cdioName) ? []
                    : directory.cdioPath + (directory.cdioPath.last == UInt8(ascii: "/") ? [] : [UInt8(ascii: "/")]) + stat.cdioName
                // A hostile name gets a stand-in: the record's extent, not its name, leads to the content.
                let named = siblings.child(of: directory.path, named: displayName(record, stat))
                let path = named.path
                if let renamed = named.renamed { problem(MediaProblem(path: path, error: renamed)) }
                if record.relocated, record.isDirectory {
                    // Listed under its CL placeholder, at its logical place.
                    relocated[record.extent] = (path, cdioPath, record, directory.ancestors)
                    continue
                }
                // A second record with the same name got a stand-in (`SiblingNames`): a file is read by
                // its extent, a directory listed from its extent (it is `shadowed` in path lookups).
                guard !record.isMultiExtent else {
                    let refused = record.isDirectory ? nil
                        : MediaEntry(path: path, kind: .file, size: Int64(record.size), locator: .init(start: Int64(record.extent) * 2048))
                    problem(MediaProblem(path: path, error: .corrupt("\(path): multi-extent file (over 4 GiB) is not supported"),
                                        unreadable: refused))
                    continue
                }
                let kind: MediaEntry.Kind
                if stat.isSymlink { kind = .symlink }  // never followed
                else if record.isDirectory || record.childLink != nil { kind = .directory }
                else if stat.rockRidge, stat.mode & 0o170000 != 0, stat.mode & 0o170000 != 0o100000 { kind = .other }
                else { kind = .file }
                let size = kind == .file ? Int64(record.size) : 0
                let extent = record.childLink ?? record.extent
                let entry = MediaEntry(path: path, kind: kind, size: size,
                                       locator: .init(start: Int64(extent) * 2048, extra: Int64(record.size)))
                if kind == .file, let error = ISO9660Volume.extentProblem(entry, image: image) {
                    problem(MediaProblem(path: path, error: error, unreadable: entry))
                    continue
                }
                if kind == .directory {
                    if directory.ancestors.contains(extent) {
                        problem(MediaProblem(path: path, error: .loop("\(path) points back to the extent of an enclosing directory")))
                        continue
                    }
                    // A relocated directory is claimed when its link is resolved.
                    if record.childLink == nil, !listed.insert(extent).inserted {
                        problem(MediaProblem(path: path, error: .crossLink("\(path) shares its extent with another directory")))
                        continue
                    }
                }
                if let error = budget.admit(path, kind: kind, size: size) {
                    problem(MediaProblem(path: path, error: error))
                    continue
                }
                visit(entry)
                if kind == .directory {
                    if let error = budget.mayDescend(into: path) {
                        problem(MediaProblem(path: path, error: error))
                        continue
                    }
                    if let target = record.childLink {
                        childLinks.append(ChildLink(path: path, target: target, ancestors: directory.ancestors))
                    } else {
                        // libiso9660 would resolve a shadowed path to an earlier record: such a
                        // directory is listed from its own extent instead, never through its name.
                        subdirectories.append(PendingDirectory(path: path, cdioPath: shadowed ? [] : cdioPath, record: record,
                                                               ancestors: directory.ancestors + [record.extent]))
                    }
                }
            }
            stack.append(contentsOf: subdirectories.reversed())
        }
        for link in childLinks where !budget.exhausted {
            problem(MediaProblem(path: link.path, error: .corrupt("\(link.path): Rock Ridge child link to extent \(link.target), where no relocated directory was found")))
        }
    }

    /// Validates the directory's bytes, then lists it with libiso9660 and pairs each stat with
    /// its raw record (same order: libiso9660 walks the records the same way).
    private func list(_ directory: PendingDirectory) throws(MediaError) -> [(ISORecord, ISOStat)] {
        let bytes = try ISO9660Volume.readDirectoryBytes(image: image, extent: directory.record.extent, size: directory.record.size)
        let records = try ISORecords.scan(bytes)
        guard let first = records.first, first.identifier == [0], first.extent == directory.record.extent else {
            throw .corrupt("\(directory.path): first record is not \".\" pointing at the directory itself")
        }
        let stats: [ISOStat]
        if directory.cdioPath.isEmpty {
            stats = records.map { ISOStat(record: $0, joliet: joliet) }
        } else {
            guard let listed = handle.readdir(directory.cdioPath) else {
                throw .corrupt("\(directory.path): libiso9660 could not list this directory")
            }
            stats = listed
        }
        guard stats.count == records.count,
              zip(records, stats).allSatisfy({ $0.extent == $1.lsn && $0.size == $1.size }) else {
            throw .corrupt("\(directory.path): libiso9660 listed a different directory than the records at extent \(directory.record.extent)")
        }
        return Array(zip(records, stats))
    }

    private func displayName(_ record: ISORecord, _ stat: ISOStat) -> String {
        // libiso9660 puts the Rock Ridge NM name in place of the identifier when there is one.
        if stat.rockRidge, !stat.cdioName.elementsEqual(record.identifier) {
            return String(decoding: stat.cdioName, as: UTF8.self)
        }
        // Decoded here: libiso9660 2.1.0 cuts Joliet names whose UTF-8 is longer than their UCS-2.
        if joliet { return ISODescriptors.ucs2(record.identifier).strippingISOVersion }
        return String(decoding: record.identifier, as: UTF8.self).strippingISOVersion
    }

    /// Whether libiso9660's path lookup (which splits at `/` and stops at NUL) can find a name.
    static func canLookUp(_ name: [UInt8]) -> Bool {
        !name.isEmpty && name != [0x2E] && name != [0x2E, 0x2E] && !name.contains(0x2F) && !name.contains(0)
    }

    /// `iso9660_name_translate_ext` at Joliet level 0, which libiso9660's path lookup also tries
    /// for plain records: ASCII lower case, trailing ".;1" or ";1" dropped, other ';' → '.'.
    static func translated(_ name: [UInt8]) -> [UInt8] {
        var bytes = name.prefix { $0 != 0 }
        if bytes.count >= 3, bytes.suffix(3).elementsEqual(".;1".utf8) { bytes.removeLast(3) }
        else if bytes.count >= 2, bytes.suffix(2).elementsEqual(";1".utf8) { bytes.removeLast(2) }
        return bytes.map { byte in
            if (0x41...0x5A).contains(byte) { return byte + 0x20 }
            return byte == UInt8(ascii: ";") ? UInt8(ascii: ".") : byte
        }
    }

    static func extentProblem(_ entry: MediaEntry, image: SystemFile) -> MediaError? {
        let start = entry.locator.start
        if entry.size == 0 { return nil }
        if start >= image.size {
            return .corrupt("\(entry.path): extent at byte \(start) lies outside the \(image.size)-byte image")
        }
        if entry.size > image.size - start {
            return .shortRead("\(entry.path): image ends at byte \(image.size), inside this file (\(start)..<\(start + entry.size))")
        }
        return nil
    }

    public func open(_ entry: MediaEntry) throws(MediaError) -> any MediaFile {
        guard entry.kind == .file else { throw .unsupported("\(entry.path) is not a regular file") }
        // An ISO 9660 volume is always read from the medium's first byte (MediaSource.open).
        return try ExtentFile(entry: entry, image: image, base: entry.locator.start, isMedium: true)
    }
}
