/// An exFAT volume read in user space (never mounted). Same guarantees as `FATVolume`: bounded
/// chains, a volume-wide cluster bitmap for loops and cross-links, directory-set checksums
/// verified, every name through `MediaPath`.
public final class ExFATVolume: Volume {
    public let filesystem = FilesystemType.exfat
    public private(set) var label = ""
    private let image: SystemFile
    private let boot: ExFATBootSector
    private let offset: Int64
    private var owners = ClusterOwnership(clusterCount: 0)

    public init(image: SystemFile, offset: Int64 = 0, length: Int64? = nil) throws(MediaError) {
        let volumeLength = try image.volumeLength(offset: offset, length: length, what: "exFAT")
        // The boot region is 12 sectors of at most 4 KiB: one read covers every sector size.
        let region = try image.readBytes(at: offset, count: Int(min(12 << 12, volumeLength)))
        boot = try ExFATBootSector(region: region, volumeLength: volumeLength)
        self.image = image
        self.offset = offset
    }

    /// Directory streams are capped (exFAT: 256 MiB per directory; we allow 16 MiB of entries).
    static let maxDirectoryBytes: Int64 = 16 << 20

    private func fatEntry(_ cluster: UInt32) throws(MediaError) -> UInt32 {
        let bytes = try image.readBytes(at: offset + boot.fatOffset + Int64(cluster) * 4, count: 4)
        guard bytes.count == 4 else { throw .shortRead("exFAT FAT entry \(cluster)") }
        return UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
    }

    /// Cluster runs of a stream: contiguous when the NoFatChain flag is set, else through the FAT,
    /// at most `maxClusters`, loop-checked.
    func runs(first: UInt32, length: Int64, contiguous: Bool, what: String) throws(MediaError) -> [ClosedRange<UInt32>] {
        guard length > 0 else { return [] }
        let needed = (length + Int64(boot.clusterSize) - 1) / Int64(boot.clusterSize)
        guard needed <= Int64(boot.clusterCount) else { throw .corrupt("\(what) claims \(length) bytes, more than the volume holds") }
        guard boot.isData(first) else { throw .corrupt("\(what): first cluster \(first) outside the heap") }
        if contiguous {
            let last = UInt64(first) + UInt64(needed) - 1
            guard last < UInt64(boot.clusterCount) + 2 else { throw .corrupt("\(what): contiguous run leaves the heap") }
            return [first...UInt32(last)]
        }
        var runs: [ClosedRange<UInt32>] = []
        var seen = Set<UInt32>()
        var cluster = first
        for index in 0..<needed {
            guard boot.isData(cluster) else { throw .corrupt("\(what): cluster \(cluster) outside the heap") }
            guard seen.insert(cluster).inserted else { throw .loop("\(what): cluster chain returns to cluster \(cluster)") }
            if let last = runs.last, last.upperBound &+ 1 == cluster { runs[runs.count - 1] = last.lowerBound...cluster } else { runs.append(cluster...cluster) }
            if index == needed - 1 { break }
            let next = try fatEntry(cluster)
            guard next != 0xFFFF_FFFF else { throw .shortRead("\(what): chain ends after \(index + 1) of \(needed) clusters") }
            cluster = next
        }
        return runs
    }

    private func bytes(of runs: [ClosedRange<UInt32>], length: Int64, what: MediaPath) throws(MediaError) -> [UInt8] {
        var out: [UInt8] = []
        for run in runs where Int64(out.count) < length {
            let want = Int(min(Int64(run.upperBound - run.lowerBound + 1) * Int64(boot.clusterSize), length - Int64(out.count)))
            let chunk = try image.readBytes(at: offset + boot.clusterOffset(run.lowerBound), count: want)
            guard chunk.count == want else { throw .shortRead("\(what): directory data") }
            out += chunk
        }
        return out
    }

    private struct Directory {
        let path: MediaPath
        let runs: [ClosedRange<UInt32>]
        let length: Int64
    }

    public func walk(limits: WalkLimits, visit: (MediaEntry) -> Void, problem: (MediaProblem) -> Void) {
        owners = ClusterOwnership(clusterCount: boot.clusterCount)
        var budget = WalkBudget(limits)
        var pending: [Directory] = []
        do {
            // The root directory is always FAT-chained and has no length: follow its chain to the end.
            var runs: [ClosedRange<UInt32>] = []
            var seen = Set<UInt32>()
            var cluster = boot.rootCluster
            while true {
                guard boot.isData(cluster) else { throw MediaError.corrupt("root directory cluster \(cluster) outside the heap") }
                guard seen.insert(cluster).inserted else { throw MediaError.loop("root directory chain returns to cluster \(cluster)") }
                guard Int64(seen.count) * Int64(boot.clusterSize) <= ExFATVolume.maxDirectoryBytes else {
                    throw MediaError.limitExceeded("root directory larger than \(ExFATVolume.maxDirectoryBytes) bytes")
                }
                runs.append(cluster...cluster)
                let next = try fatEntry(cluster)
                if next == 0xFFFF_FFFF { break }
                cluster = next
            }
            try owners.claim(runs, what: "root directory")
            pending.append(Directory(path: .root, runs: runs, length: Int64(runs.count) * Int64(boot.clusterSize)))
        } catch {
            problem(MediaProblem(path: .root, error: error as? MediaError ?? .corrupt("\(error)")))
            return
        }
        while let directory = pending.popLast(), !budget.exhausted {
            let data: [UInt8]
            do { data = try bytes(of: directory.runs, length: directory.length, what: directory.path) } catch {
                problem(.unlisted(directory.path, error, locator: .init(start: Int64(directory.runs.first?.lowerBound ?? 0))))
                continue
            }
            var subdirectories: [Directory] = []
            let sets = entrySets(data, in: directory, problem: problem)
            var siblings = SiblingNames(names: sets.map(\.name))
            for (set, name) in sets {
                guard !budget.exhausted else { break }
                let isDirectory = set[4] & 0x10 != 0
                let first = UInt32(set[52]) | UInt32(set[53]) << 8 | UInt32(set[54]) << 16 | UInt32(set[55]) << 24
                let dataLength = (0..<8).reduce(Int64(0)) { $0 | Int64(set[56 + $1]) << (8 * Int64($1)) }
                // Bytes past ValidDataLength were allocated but never written: not part of the file.
                let validLength = min(dataLength, (0..<8).reduce(Int64(0)) { $0 | Int64(set[40 + $1]) << (8 * Int64($1)) })
                let contiguous = set[33] & 0x02 != 0
                // Entries are reached by their first cluster: a hostile name gets a stand-in.
                let named = siblings.child(of: directory.path, named: name)
                let path = named.path
                if let renamed = named.renamed { problem(MediaProblem(path: path, error: renamed)) }
                guard dataLength >= 0, validLength >= 0 else {
                    problem(MediaProblem(path: path, error: .corrupt("negative data length")))
                    continue
                }
                let kind: MediaEntry.Kind = isDirectory ? .directory : .file
                if let error = budget.admit(path, kind: kind, size: isDirectory ? 0 : dataLength) {
                    problem(MediaProblem(path: path, error: error))
                    continue
                }
                let locator = MediaEntry.Locator(start: Int64(first), extra: contiguous ? 1 : 0)
                let entry = MediaEntry(path: path, kind: kind, size: isDirectory ? 0 : validLength, locator: locator)
                do {
                    if isDirectory && dataLength > ExFATVolume.maxDirectoryBytes {
                        throw MediaError.limitExceeded("\(path) directory larger than \(ExFATVolume.maxDirectoryBytes) bytes")
                    }
                    let runs = try self.runs(first: first, length: dataLength, contiguous: contiguous, what: path.description)
                    try owners.claim(runs, what: path.description)
                    visit(entry)
                    if isDirectory {
                        if let error = budget.mayDescend(into: path) {
                            problem(MediaProblem(path: path, error: error))
                        } else {
                            subdirectories.append(Directory(path: path, runs: runs, length: dataLength))
                        }
                    }
                } catch {
                    let error = error as? MediaError ?? .corrupt("\(error)")
                    problem(isDirectory ? .unlisted(path, error, locator: locator) : MediaProblem(path: path, error: error, unreadable: entry))
                }
            }
            pending += subdirectories.reversed()
        }
    }

    /// The checksum-verified File directory entry sets of one directory (exFAT §7.4), each with
    /// its name from the File Name entries; the volume label is taken on the way.
    private func entrySets(_ data: [UInt8], in directory: Directory, problem: (MediaProblem) -> Void) -> [(set: [UInt8], name: String)] {
        var sets: [(set: [UInt8], name: String)] = []
        var index = 0
        while index + 32 <= data.count {
            let type = data[index]
            if type == 0x00 { break }
            if type == 0x83, directory.path == .root {
                let count = min(Int(data[index + 1]), 11)
                label = ExFATVolume.utf16(data, from: index + 2, units: count)
            }
            guard type == 0x85 else { index += 32; continue }
            let secondary = Int(data[index + 1])
            let setLength = (secondary + 1) * 32
            guard secondary >= 2, index + setLength <= data.count else {
                problem(MediaProblem(path: directory.path, error: .corrupt("file entry set at byte \(index) is incomplete")))
                index += 32
                continue
            }
            defer { index += setLength }
            let set = Array(data[index..<index + setLength])
            let stored = UInt16(set[2]) | UInt16(set[3]) << 8
            guard ExFATVolume.setChecksum(set) == stored else {
                problem(MediaProblem(path: directory.path, error: .corrupt("file entry set at byte \(index) fails its checksum")))
                continue
            }
            guard set[32] == 0xC0 else {
                problem(MediaProblem(path: directory.path, error: .corrupt("file entry without a stream extension")))
                continue
            }
            var name = ""
            var units = Int(set[35])
            var nameEntry = 64
            while units > 0, nameEntry + 32 <= set.count, set[nameEntry] == 0xC1 {
                // NameLength counts the units: a NUL among them is part of a hostile name, not its end.
                name += ExFATVolume.utf16(set, from: nameEntry + 2, units: min(units, 15), stopAtNUL: false)
                units -= 15
                nameEntry += 32
            }
            sets.append((set, name))
        }
        return sets
    }

    public func open(_ entry: MediaEntry) throws(MediaError) -> any MediaFile {
        guard entry.kind == .file, entry.locator.start >= 0, entry.locator.start <= Int64(UInt32.max) else {
            throw .corrupt("\(entry.path) is not a file of this volume")
        }
        let runs = try self.runs(first: UInt32(entry.locator.start), length: entry.size,
                                 contiguous: entry.locator.extra == 1, what: entry.path.description)
        let boot = boot, base = offset
        return ClusterRunFile(entry: entry, runs: runs, image: image, clusterSize: boot.clusterSize) { base + boot.clusterOffset($0) }
    }

    /// The entry-set checksum (exFAT §6.3.3), skipping the SetChecksum field itself.
    static func setChecksum(_ set: [UInt8]) -> UInt16 {
        var sum: UInt16 = 0
        for (i, byte) in set.enumerated() where i != 2 && i != 3 {
            sum = ((sum & 1) != 0 ? 0x8000 : 0) &+ (sum >> 1) &+ UInt16(byte)
        }
        return sum
    }

    static func utf16(_ bytes: [UInt8], from start: Int, units: Int, stopAtNUL: Bool = true) -> String {
        let code = (0..<units).compactMap { i -> UInt16? in
            let at = start + i * 2
            return at + 1 < bytes.count ? UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 : nil
        }
        return String(decoding: stopAtNUL ? code.prefix { $0 != 0 } : code[...], as: UTF16.self)
    }
}
