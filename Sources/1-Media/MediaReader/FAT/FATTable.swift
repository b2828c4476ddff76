/// The first File Allocation Table, read in 64 KiB blocks on demand (a 32 GB stick has a 32 MB
/// FAT: never slurped whole), with cluster chains followed within bounds.
final class FATTable {
    private let image: SystemFile
    private let boot: FATBootSector
    private let base: Int64
    private var blocks: [Int64: [UInt8]] = [:]
    private static let blockSize: Int64 = 64 << 10
    private static let maxCachedBlocks = 256

    init(image: SystemFile, boot: FATBootSector, volumeOffset: Int64) {
        self.image = image
        self.boot = boot
        base = volumeOffset + boot.fatOffset
    }

    private func byte(_ offset: Int64) throws(MediaError) -> UInt8 {
        let blockIndex = offset / FATTable.blockSize
        if blocks[blockIndex] == nil {
            if blocks.count >= FATTable.maxCachedBlocks { blocks.removeAll(keepingCapacity: true) }
            let length = min(FATTable.blockSize, boot.sectorsPerFAT * Int64(boot.bytesPerSector) - blockIndex * FATTable.blockSize)
            let bytes = try image.readBytes(at: base + blockIndex * FATTable.blockSize, count: Int(length))
            guard bytes.count == Int(length) else { throw .shortRead("FAT ends at byte \(base + blockIndex * FATTable.blockSize + Int64(bytes.count))") }
            blocks[blockIndex] = bytes
        }
        return blocks[blockIndex]![Int(offset % FATTable.blockSize)]
    }

    /// The FAT entry of `cluster` (FAT12: 12 bits packed in pairs; FAT16: 16 bits; FAT32: low 28 bits).
    func next(_ cluster: UInt32) throws(MediaError) -> UInt32 {
        switch boot.kind {
        case .fat12:
            let offset = Int64(cluster) + Int64(cluster / 2)
            let value = UInt32(try byte(offset)) | UInt32(try byte(offset + 1)) << 8
            return cluster & 1 == 1 ? value >> 4 : value & 0x0FFF
        case .fat16:
            let offset = Int64(cluster) * 2
            return UInt32(try byte(offset)) | UInt32(try byte(offset + 1)) << 8
        case .fat32:
            let offset = Int64(cluster) * 4
            let value = UInt32(try byte(offset)) | UInt32(try byte(offset + 1)) << 8
                | UInt32(try byte(offset + 2)) << 16 | UInt32(try byte(offset + 3)) << 24
            return value & 0x0FFF_FFFF
        }
    }

    func isEndOfChain(_ value: UInt32) -> Bool {
        switch boot.kind {
        case .fat12: value >= 0xFF8
        case .fat16: value >= 0xFFF8
        case .fat32: value >= 0x0FFF_FFF8
        }
    }

    /// Follows a chain from `start`, at most `maxClusters` long, as runs of consecutive clusters
    /// (coalesced so a contiguous file is read with one `pread`). A revisit is a loop; a cluster
    /// outside the data area, a free or bad cluster inside the chain is corruption.
    func chain(from start: UInt32, maxClusters: Int, what: String) throws(MediaError) -> [ClosedRange<UInt32>] {
        var runs: [ClosedRange<UInt32>] = []
        var seen = Set<UInt32>()
        var cluster = start
        var count = 0
        while true {
            guard boot.isData(cluster) else { throw .corrupt("\(what): cluster \(cluster) is outside the data area") }
            guard seen.insert(cluster).inserted else { throw .loop("\(what): cluster chain returns to cluster \(cluster)") }
            count += 1
            guard count <= maxClusters else {
                throw .corrupt("\(what): cluster chain longer than the \(maxClusters) cluster(s) its size needs")
            }
            if let last = runs.last, last.upperBound &+ 1 == cluster {
                runs[runs.count - 1] = last.lowerBound...cluster
            } else {
                runs.append(cluster...cluster)
            }
            let next = try self.next(cluster)
            if isEndOfChain(next) { return runs }
            guard next >= 2 else { throw .corrupt("\(what): chain reaches a free cluster after \(cluster)") }
            cluster = next
        }
    }
}
