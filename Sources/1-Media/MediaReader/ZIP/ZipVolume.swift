/// A ZIP archive read as a volume: a patient's upload, or an archive found in a batch
/// (THREATS.md 22), unpacked inside the sandboxed media helper exactly as a disc is read.
///
/// Only the central directory is trusted to list entries, and only after each entry's local
/// header agrees with it (name, method, CRC and sizes, or its data descriptor). Entries are
/// refused — listed as unreadable with their problem — when encrypted, compressed with anything
/// but stored or deflate, inconsistent, sharing bytes with another entry (the overlapping
/// "non-recursive" zip bomb) or compressed more than `maxRatio` to 1. Declared sizes go through
/// `WalkLimits`, and reading never produces more than the declared size. Hostile names get
/// `SiblingNames` stand-ins; directories implied by names are listed.
///
/// A `.zip` inside the archive is just a file here: listed, not expanded. The caller decides
/// whether to open it as a volume of its own (the portal refuses nesting beyond one level).
public final class ZipVolume: Volume {
    public let filesystem = FilesystemType.zip
    public let label: String
    private let archive: SystemFile
    private let isMedium: Bool
    private let location: ZipDirectoryLocation
    private let maxRatio: Int64
    /// Files the last walk admitted, by the offset of their central header (`locator.extra`).
    private var admitted: [Int64: ZipEntryData] = [:]

    /// Entries over 1 MiB may inflate to at most this many times their compressed size. Deflate
    /// reaches about 1030:1 on zeros; a nearly blank image can pass 200:1 too, so the portal may
    /// choose a higher bound.
    public static let defaultMaxRatio: Int64 = 200
    static let ratioFloor: Int64 = 1 << 20

    /// `isMedium`: the archive is the medium itself (an uploaded file handed to the helper), so
    /// a stored entry's `mediumRange` is its range in it; false for an archive found as a file
    /// inside another volume.
    public init(archive: SystemFile, isMedium: Bool = true, maxRatio: Int64 = ZipVolume.defaultMaxRatio) throws(MediaError) {
        self.archive = archive
        self.isMedium = isMedium
        self.maxRatio = maxRatio
        location = try ZipDirectoryLocation.find(in: archive)
        label = archive.path.split(separator: "/").last.map(String.init) ?? ""
    }

    public convenience init(duplicating fd: Int32, path: String, isMedium: Bool = true, maxRatio: Int64 = ZipVolume.defaultMaxRatio) throws(MediaError) {
        try self.init(archive: SystemFile(duplicating: fd, path: path), isMedium: isMedium, maxRatio: maxRatio)
    }

    public func walk(limits: WalkLimits, visit: (MediaEntry) -> Void, problem: (MediaProblem) -> Void) {
        admitted = [:]
        let directory = ZipCentralDirectory(in: archive, at: location, limit: limits.maxEntries + 1)
        for error in directory.problems { problem(MediaProblem(path: .root, error: error)) }
        let records = directory.records
        let checked = refuseOverlaps(records.map { record in
            record.isDirectory || record.isSymlink ? nil : Result { () throws(MediaError) in try check(record) }
        }, records)
        let root = ZipTree(records, maxDepth: limits.maxDepth) { name in
            problem(MediaProblem(path: .root, error: .limitExceeded("\(MediaPath.printable(name)) is deeper than \(limits.maxDepth) levels; not listed")))
        }

        var budget = WalkBudget(limits)
        var stack = [(node: root, path: MediaPath.root)]
        while let (node, path) = stack.popLast(), !budget.exhausted {
            var siblings = SiblingNames(node.children.map(\.name))
            var subdirectories: [(node: ZipTree, path: MediaPath)] = []
            for (name, child) in node.children {
                guard !budget.exhausted else { break }
                let named = siblings.child(of: path, named: name, objection: ZipNames.objection(to: name, isFirst: path == .root))
                if let renamed = named.renamed { problem(MediaProblem(path: named.path, error: renamed)) }
                if child.isDirectory {
                    if let error = budget.admit(named.path, kind: .directory, size: 0) {
                        problem(MediaProblem(path: named.path, error: error))
                        continue
                    }
                    visit(MediaEntry(path: named.path, kind: .directory, size: 0, locator: .init(start: 0, extra: child.record.map { records[$0].offset } ?? -1)))
                    if let error = budget.mayDescend(into: named.path) { problem(MediaProblem(path: named.path, error: error)); continue }
                    subdirectories.append((child, named.path))
                } else if let index = child.record {
                    visitFile(records[index], checked[index], at: named.path, budget: &budget, visit: visit, problem: problem)
                }
            }
            stack.append(contentsOf: subdirectories.reversed())
        }
    }

    private func visitFile(_ record: ZipCentralRecord, _ checked: Result<ZipEntryData, MediaError>?, at path: MediaPath,
                           budget: inout WalkBudget, visit: (MediaEntry) -> Void, problem: (MediaProblem) -> Void) {
        if record.isSymlink {
            // Reported and never followed, like a symlink on any other medium.
            if let error = budget.admit(path, kind: .symlink, size: 0) { problem(MediaProblem(path: path, error: error)); return }
            visit(MediaEntry(path: path, kind: .symlink, size: 0, locator: .init(start: 0, extra: record.offset)))
            return
        }
        let declared = Int64(clamping: record.uncompressedSize)
        switch checked {
        case nil:
            return
        case let .failure(error):
            let start = Int64(clamping: record.localOffset)
            problem(MediaProblem(path: path, error: error,
                                 unreadable: MediaEntry(path: path, kind: .file, size: declared, locator: .init(start: start, extra: record.offset))))
        case let .success(data):
            if let error = budget.admit(path, kind: .file, size: data.size) { problem(MediaProblem(path: path, error: error)); return }
            admitted[record.offset] = data
            visit(MediaEntry(path: path, kind: .file, size: data.size, locator: .init(start: data.range.lowerBound, extra: record.offset)))
        }
    }

    /// Checks one file entry against its local header; the data range it may be read from.
    private func check(_ record: ZipCentralRecord) throws(MediaError) -> ZipEntryData {
        if record.isEncrypted {
            throw .unsupported("encrypted entry (password or AES): refused, the archive must be uploaded without a password")
        }
        guard record.method == 0 || record.method == 8 else {
            throw .unsupported("compression method \(record.method)\(ZipVolume.methodNames[record.method].map { " (\($0))" } ?? ""): only stored and deflate are read")
        }
        let directoryStart = Int64(location.offset)
        guard record.localOffset < location.offset, record.compressedSize < location.offset,
              record.uncompressedSize <= UInt64(Int64.max) else {
            throw .corrupt("local header at \(record.localOffset) or \(record.compressedSize) compressed bytes lie beyond the entries (central directory at \(directoryStart))")
        }
        let size = Int64(record.uncompressedSize), compressed = Int64(record.compressedSize)
        if record.method == 0, size != compressed {
            throw .corrupt("stored entry with \(compressed) bytes in the archive for \(size) declared")
        }
        if size > ZipVolume.ratioFloor, size / max(compressed, 1) > maxRatio {
            throw .limitExceeded("\(compressed) bytes declared to inflate to \(size) (over \(maxRatio):1): refused as a zip bomb")
        }
        let localOffset = Int64(record.localOffset)
        let local = try ZipLocalHeader(in: archive, at: localOffset)
        guard local.name == record.name else {
            throw .corrupt("the local header names \(MediaPath.printable(local.name)), the central directory \(MediaPath.printable(record.name))")
        }
        guard local.method == record.method else {
            throw .corrupt("the local header says method \(local.method), the central directory \(record.method)")
        }
        let dataStart = localOffset + Int64(local.length)
        guard compressed <= directoryStart - dataStart else {
            throw .corrupt("\(compressed) bytes of data at \(dataStart) run into the central directory at \(directoryStart)")
        }
        var end = dataStart + compressed
        if local.flags & 0x8 != 0 {
            end += Int64(try ZipDataDescriptor(in: archive, at: end, matching: record).length)
        } else if local.crc != record.crc || local.compressedSize != record.compressedSize || local.uncompressedSize != record.uncompressedSize {
            throw .corrupt("the local header (CRC \(local.crc), \(local.compressedSize) → \(local.uncompressedSize) bytes) disagrees with the central directory (CRC \(record.crc), \(record.compressedSize) → \(record.uncompressedSize) bytes)")
        }
        return ZipEntryData(method: record.method, crc: record.crc, size: size, range: dataStart ..< dataStart + compressed, span: localOffset ..< end)
    }

    /// Refuses every entry whose bytes (local header to data descriptor) overlap an entry that
    /// starts before it: many central headers pointing at one local file make a small archive
    /// list gigabytes.
    private func refuseOverlaps(_ checked: [Result<ZipEntryData, MediaError>?], _ records: [ZipCentralRecord]) -> [Result<ZipEntryData, MediaError>?] {
        var result = checked
        let spans = checked.indices.compactMap { index in (try? checked[index]?.get()).map { (index, $0.span) } }
            .sorted { ($0.1.lowerBound, $0.0) < ($1.1.lowerBound, $1.0) }
        var claimed: (index: Int, end: Int64)?
        for (index, span) in spans {
            if let claimed, span.lowerBound < claimed.end {
                let owner = records[claimed.index]
                result[index] = .failure(.crossLink("its bytes \(span.lowerBound)..<\(span.upperBound) overlap those of \(MediaPath.printable(owner.name)) (local header at \(owner.localOffset)): refused"))
                continue
            }
            claimed = (index, span.upperBound)
        }
        return result
    }

    private static let methodNames: [UInt16: String] = [
        1: "shrink", 6: "implode", 9: "deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 95: "xz", 98: "PPMd", 99: "AES",
    ]

    public func open(_ entry: MediaEntry) throws(MediaError) -> any MediaFile {
        guard entry.kind == .file, let data = admitted[entry.locator.extra], data.size == entry.size,
              data.range.lowerBound == entry.locator.start else {
            throw .unsupported("\(entry.path) is not a file this archive's walk admitted")
        }
        switch data.method {
        case 0: return StoredZipFile(entry: entry, archive: archive, data: data, isMedium: isMedium)
        default: return try DeflatedZipFile(entry: entry, archive: archive, data: data)
        }
    }
}

/// The directory tree the entry names imply, with the names already in UTF-8. Directories merge
/// by name; files never do (two entries with one name both stay, and one gets a stand-in).
final class ZipTree {
    private(set) var children: [(name: [UInt8], node: ZipTree)] = []
    private var directories: [[UInt8]: ZipTree] = [:]
    /// The central header index of the entry (a file, or an explicit directory).
    private(set) var record: Int?
    let isDirectory: Bool

    private init(record: Int?, isDirectory: Bool) { self.record = record; self.isDirectory = isDirectory }

    /// The root of the tree of `records`; names deeper than `maxDepth` are left out and passed to `tooDeep`.
    convenience init(_ records: [ZipCentralRecord], maxDepth: Int, tooDeep: ([UInt8]) -> Void) {
        self.init(record: nil, isDirectory: true)
        for (index, record) in records.enumerated() {
            let name = ZipNames.utf8(record.name, flaggedUTF8: record.isUTF8)
            let components = ZipNames.components(name)
            guard components.count <= maxDepth else { tooDeep(name); continue }
            var node = self
            for component in components.dropLast() { node = node.directory(component, record: nil) }
            if record.isDirectory {
                _ = node.directory(components[components.count - 1], record: index)
            } else {
                node.children.append((components[components.count - 1], ZipTree(record: index, isDirectory: false)))
            }
        }
    }

    private func directory(_ name: [UInt8], record: Int?) -> ZipTree {
        if let existing = directories[name] {
            if existing.record == nil { existing.record = record }
            return existing
        }
        let node = ZipTree(record: record, isDirectory: true)
        directories[name] = node
        children.append((name, node))
        return node
    }
}
