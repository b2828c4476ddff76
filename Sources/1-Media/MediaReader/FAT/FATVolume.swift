/// A FAT12/16/32 volume read in user space from an image file, a partition inside it, or a raw
/// device (never mounted: THREATS.md 17).
///
/// Cluster chains are bounded by the size of their file, loops and cross-links between files are
/// found with a volume-wide cluster bitmap (THREATS.md 14), directory cycles are refused, and
/// every name goes through `MediaPath`.
public final class FATVolume: Volume {
    public let filesystem = FilesystemType.vfat
    public private(set) var label: String
    let image: SystemFile
    let boot: FATBootSector
    private let offset: Int64
    private let table: FATTable
    /// Clusters already claimed by a file or directory in this walk.
    private var owners = ClusterOwnership(clusterCount: 0)

    public init(image: SystemFile, offset: Int64 = 0, length: Int64? = nil) throws(MediaError) {
        let volumeLength = try image.volumeLength(offset: offset, length: length, what: "FAT")
        let sector = try image.readBytes(at: offset, count: 512)
        boot = try FATBootSector(sector, volumeLength: volumeLength)
        self.image = image
        self.offset = offset
        table = FATTable(image: image, boot: boot, volumeOffset: offset)
        label = boot.label
    }

    private struct Directory {
        let path: MediaPath
        /// nil: the fixed FAT12/16 root directory region.
        let runs: [ClosedRange<UInt32>]?
        let cluster: UInt32
        /// Clusters of this directory and its ancestors: a subdirectory pointing at one is a cycle.
        let ancestors: Set<UInt32>
    }

    private func directoryBytes(_ directory: Directory) throws(MediaError) -> [UInt8] {
        guard let runs = directory.runs else {
            let bytes = try image.readBytes(at: offset + boot.rootDirectoryOffset, count: Int(boot.rootDirectorySize))
            guard bytes.count == Int(boot.rootDirectorySize) else { throw .shortRead("FAT root directory") }
            return bytes
        }
        var bytes: [UInt8] = []
        for run in runs {
            let length = Int(run.upperBound - run.lowerBound + 1) * boot.clusterSize
            let chunk = try image.readBytes(at: offset + boot.clusterOffset(run.lowerBound), count: length)
            guard chunk.count == length else { throw .shortRead("\(directory.path): directory cluster \(run.lowerBound)") }
            bytes += chunk
        }
        return bytes
    }

    /// Most entries a directory may have (the FAT specification caps a directory at 65,536).
    static let maxDirectoryBytes = 65_536 * 32

    public func walk(limits: WalkLimits, visit: (MediaEntry) -> Void, problem: (MediaProblem) -> Void) {
        owners = ClusterOwnership(clusterCount: boot.clusterCount)
        var budget = WalkBudget(limits)
        var pending: [Directory] = []
        do {
            if boot.kind == .fat32 {
                let runs = try table.chain(from: boot.rootCluster, maxClusters: FATVolume.maxDirectoryBytes / boot.clusterSize + 1, what: "root directory")
                try owners.claim(runs, what: "root directory")
                pending.append(Directory(path: .root, runs: runs, cluster: boot.rootCluster, ancestors: [boot.rootCluster]))
            } else {
                pending.append(Directory(path: .root, runs: nil, cluster: 0, ancestors: [0]))
            }
        } catch {
            problem(MediaProblem(path: .root, error: error))
            return
        }
        while let directory = pending.popLast(), !budget.exhausted {
            let bytes: [UInt8]
            do { bytes = try directoryBytes(directory) } catch {
                problem(.unlisted(directory.path, error, locator: .init(start: Int64(directory.cluster))))
                continue
            }
            var subdirectories: [Directory] = []
            listEntries(bytes, in: directory, budget: &budget, visit: visit, problem: problem) { entry, cluster in
                guard entry.path.depth < limits.maxDepth else {
                    problem(MediaProblem(path: entry.path, error: .limitExceeded("\(entry.path) is deeper than \(limits.maxDepth) levels; not listed")))
                    return
                }
                subdirectories.append(Directory(path: entry.path, runs: nil, cluster: cluster,
                                                ancestors: directory.ancestors.union([cluster])))
            }
            // Resolve chains now, in listing order, so the stack pops them in name order.
            for sub in subdirectories.reversed() {
                do {
                    guard !directory.ancestors.contains(sub.cluster), sub.cluster != 0, sub.cluster != boot.rootCluster else {
                        throw MediaError.loop("\(sub.path) points back at an enclosing directory")
                    }
                    let runs = try table.chain(from: sub.cluster, maxClusters: FATVolume.maxDirectoryBytes / boot.clusterSize + 1,
                                               what: sub.path.description)
                    if runs.contains(where: { run in directory.ancestors.contains { run.contains($0) } }) {
                        throw MediaError.loop("\(sub.path) shares clusters with an enclosing directory")
                    }
                    try owners.claim(runs, what: sub.path.description)
                    pending.append(Directory(path: sub.path, runs: runs, cluster: sub.cluster, ancestors: sub.ancestors))
                } catch {
                    problem(.unlisted(sub.path, error as? MediaError ?? .corrupt("\(error)"), locator: .init(start: Int64(sub.cluster))))
                }
            }
        }
    }

    /// One 8.3 entry with the name it goes by (its long name when that checks out).
    private struct RawEntry {
        let name: String
        let attributes: UInt8
        let cluster: UInt32
        let size: Int64
    }

    /// Decodes one directory's 32-byte entries: LFN runs (checksum-verified) then the 8.3 entry.
    private func decodeEntries(_ bytes: [UInt8], in directory: Directory, problem: (MediaProblem) -> Void) -> [RawEntry] {
        var entries: [RawEntry] = []
        var lfn: [UInt16] = []
        var lfnChecksum: UInt8?
        var lfnExpected = 0
        var index = 0
        while index + 32 <= min(bytes.count, FATVolume.maxDirectoryBytes) {
            let e = bytes[index..<index + 32]
            index += 32
            let first = e[e.startIndex], attributes = e[e.startIndex + 11]
            if first == 0x00 { break }
            if first == 0xE5 { lfn = []; lfnChecksum = nil; continue }
            if attributes & 0x3F == 0x0F {
                let order = Int(first & 0x1F)
                if first & 0x40 != 0 {
                    lfn = []
                    lfnExpected = order
                    lfnChecksum = e[e.startIndex + 13]
                } else if order != lfnExpected - 1 || lfnChecksum != e[e.startIndex + 13] {
                    lfnChecksum = nil
                }
                lfnExpected = order
                lfn = FATNames.lfnUnits(e) + lfn
                continue
            }
            let short = Array(e[e.startIndex..<e.startIndex + 11])
            if attributes & 0x08 != 0 {
                if directory.path == .root && attributes & 0x10 == 0 { label = FATNames.shortName(short, flags: 0, label: true) }
                lfn = []; lfnChecksum = nil
                continue
            }
            // "." and ".." as the 8.3 names of a directory's first two entries (a long name
            // claiming to be ".." is decoded below and renamed like any hostile name).
            if short[0] == 0x2E, lfn.isEmpty, short[1...].allSatisfy({ $0 == 0x2E || $0 == 0x20 }) { continue }
            var name = FATNames.shortName(short, flags: e[e.startIndex + 12])
            if !lfn.isEmpty {
                if let checksum = lfnChecksum, checksum == FATNames.checksum(e[e.startIndex..<e.startIndex + 11]), lfnExpected == 1 {
                    let units = lfn.prefix { $0 != 0x0000 }
                    name = String(decoding: units, as: UTF16.self)
                } else {
                    problem(MediaProblem(path: directory.path, error: .corrupt("long name for \(name) fails its checksum; short name used")))
                }
            }
            lfn = []; lfnChecksum = nil
            let hi = boot.kind == .fat32 ? UInt32(e[e.startIndex + 20]) | UInt32(e[e.startIndex + 21]) << 8 : 0
            let cluster = hi << 16 | UInt32(e[e.startIndex + 26]) | UInt32(e[e.startIndex + 27]) << 8
            let size = Int64(UInt32(e[e.startIndex + 28]) | UInt32(e[e.startIndex + 29]) << 8
                | UInt32(e[e.startIndex + 30]) << 16 | UInt32(e[e.startIndex + 31]) << 24)
            entries.append(RawEntry(name: name, attributes: attributes, cluster: cluster, size: size))
        }
        return entries
    }

    /// Lists one directory: every entry by its first cluster, hostile names replaced by stand-ins.
    private func listEntries(_ bytes: [UInt8], in directory: Directory, budget: inout WalkBudget,
                             visit: (MediaEntry) -> Void, problem: (MediaProblem) -> Void,
                             subdirectory: (MediaEntry, UInt32) -> Void) {
        let entries = decodeEntries(bytes, in: directory, problem: problem)
        var siblings = SiblingNames(names: entries.map(\.name))
        for raw in entries {
            guard !budget.exhausted else { break }
            let named = siblings.child(of: directory.path, named: raw.name)
            let path = named.path
            if let renamed = named.renamed { problem(MediaProblem(path: path, error: renamed)) }
            let isDirectory = raw.attributes & 0x10 != 0
            let kind: MediaEntry.Kind = isDirectory ? .directory : .file
            let size = raw.size
            if let error = budget.admit(path, kind: kind, size: isDirectory ? 0 : size) {
                problem(MediaProblem(path: path, error: error))
                continue
            }
            let entry = MediaEntry(path: path, kind: kind, size: isDirectory ? 0 : size, locator: .init(start: Int64(raw.cluster)))
            if isDirectory {
                visit(entry)
                subdirectory(entry, raw.cluster)
                continue
            }
            do {
                if size > 0 {
                    let needed = Int((size + Int64(boot.clusterSize) - 1) / Int64(boot.clusterSize))
                    guard needed <= Int(boot.clusterCount) else {
                        throw MediaError.corrupt("\(path) claims \(size) bytes, more than the volume holds")
                    }
                    let runs = try table.chain(from: raw.cluster, maxClusters: needed, what: path.description)
                    let clusters = runs.reduce(0) { $0 + Int($1.upperBound - $1.lowerBound) + 1 }
                    guard clusters == needed else {
                        throw MediaError.shortRead("\(path): chain of \(clusters) cluster(s) for \(size) bytes")
                    }
                    try owners.claim(runs, what: path.description)
                }
                visit(entry)
            } catch {
                problem(MediaProblem(path: path, error: error as? MediaError ?? .corrupt("\(error)"), unreadable: entry))
            }
        }
    }

    public func open(_ entry: MediaEntry) throws(MediaError) -> any MediaFile {
        guard entry.kind == .file, entry.locator.start >= 0, entry.locator.start <= Int64(UInt32.max) else {
            throw .corrupt("\(entry.path) is not a file of this volume")
        }
        guard entry.size > 0 else { return file(entry, runs: []) }
        let needed = Int((entry.size + Int64(boot.clusterSize) - 1) / Int64(boot.clusterSize))
        let runs = try table.chain(from: UInt32(entry.locator.start), maxClusters: needed, what: entry.path.description)
        return file(entry, runs: runs)
    }

    private func file(_ entry: MediaEntry, runs: [ClosedRange<UInt32>]) -> any MediaFile {
        let boot = boot, base = offset
        return ClusterRunFile(entry: entry, runs: runs, image: image, clusterSize: boot.clusterSize) { base + boot.clusterOffset($0) }
    }
}
