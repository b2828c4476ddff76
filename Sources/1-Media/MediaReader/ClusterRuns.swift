/// Which clusters of a FAT or exFAT volume are already claimed by a file or directory during one
/// walk: a second claim is a cross-link (THREATS.md 14).
struct ClusterOwnership {
    private var words: [UInt64]

    init(clusterCount: UInt32) { words = [UInt64](repeating: 0, count: Int(clusterCount / 64) + 2) }

    mutating func claim(_ runs: [ClosedRange<UInt32>], what: String) throws(MediaError) {
        for run in runs {
            for cluster in run {
                let word = Int(cluster / 64), bit = UInt64(1) << UInt64(cluster % 64)
                if words[word] & bit != 0 { throw .crossLink("\(what) shares cluster \(cluster) with another file or directory") }
                words[word] |= bit
            }
        }
    }
}

/// A file stored in runs of consecutive clusters (FAT, exFAT): one `pread` per run touched.
final class ClusterRunFile: MediaFile {
    let entry: MediaEntry
    private let runs: [ClosedRange<UInt32>]
    private let image: SystemFile
    private let clusterSize: Int64
    /// Byte offset in the image of a cluster.
    private let clusterOffset: (UInt32) -> Int64

    init(entry: MediaEntry, runs: [ClosedRange<UInt32>], image: SystemFile, clusterSize: Int, clusterOffset: @escaping (UInt32) -> Int64) {
        self.entry = entry; self.runs = runs; self.image = image
        self.clusterSize = Int64(clusterSize); self.clusterOffset = clusterOffset
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(MediaError) -> Int {
        guard offset >= 0 else { throw .corrupt("negative offset in \(entry.path)") }
        guard offset < entry.size, buffer.count > 0 else { return 0 }
        var runStart: Int64 = 0
        for run in runs {
            let runLength = Int64(run.upperBound - run.lowerBound + 1) * clusterSize
            if offset < runStart + runLength {
                let within = offset - runStart
                let wanted = Int(min(Int64(buffer.count), runLength - within, entry.size - offset))
                let got = try image.read(at: clusterOffset(run.lowerBound) + within,
                                         into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<wanted]))
                guard got == wanted else { throw .shortRead("\(entry.path) ended at byte \(offset + Int64(got)) of \(entry.size)") }
                return got
            }
            runStart += runLength
        }
        throw .shortRead("\(entry.path): clusters end before byte \(offset)")
    }
}
