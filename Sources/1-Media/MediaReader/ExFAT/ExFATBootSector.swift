/// The exFAT Main Boot Region (exFAT specification §3.1), validated before anything else is read:
/// signature, shifts in range, layout inside the volume, and the boot checksum (§3.4).
struct ExFATBootSector: Equatable {
    let bytesPerSector: Int
    let sectorsPerCluster: Int
    let fatOffset: Int64          // bytes from the volume start
    let clusterHeapOffset: Int64  // bytes from the volume start
    let clusterCount: UInt32
    let rootCluster: UInt32

    var clusterSize: Int { bytesPerSector * sectorsPerCluster }
    func clusterOffset(_ cluster: UInt32) -> Int64 { clusterHeapOffset + Int64(cluster - 2) * Int64(clusterSize) }
    func isData(_ cluster: UInt32) -> Bool { cluster >= 2 && cluster < clusterCount &+ 2 }

    /// `region`: the first 12 sectors (boot sector, extended boot sectors, OEM, reserved, checksum).
    init(region b: [UInt8], volumeLength: Int64) throws(MediaError) {
        func u32(_ i: Int) -> UInt32 { UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24 }
        func u64(_ i: Int) -> UInt64 { UInt64(u32(i)) | UInt64(u32(i + 4)) << 32 }
        guard b.count >= 512, Array(b[3..<11]) == Array("EXFAT   ".utf8) else { throw .corrupt("not an exFAT boot sector") }
        guard b[510] == 0x55, b[511] == 0xAA else { throw .corrupt("exFAT boot sector without the 55 AA signature") }
        guard b[11..<64].allSatisfy({ $0 == 0 }) else { throw .corrupt("exFAT boot sector MustBeZero field is not zero") }
        let sectorShift = Int(b[108]), clusterShift = Int(b[109])
        guard (9...12).contains(sectorShift), clusterShift <= 25 - sectorShift else {
            throw .corrupt("exFAT sector/cluster shifts \(sectorShift)/\(clusterShift)")
        }
        bytesPerSector = 1 << sectorShift
        sectorsPerCluster = 1 << clusterShift
        guard b.count >= 12 * bytesPerSector else { throw .shortRead("exFAT boot region") }
        // Boot checksum: sectors 0–10, skipping VolumeFlags (106–107) and PercentInUse (112).
        var checksum: UInt32 = 0
        for i in 0..<(11 * bytesPerSector) where i != 106 && i != 107 && i != 112 {
            checksum = ((checksum & 1) != 0 ? 0x8000_0000 : 0) &+ (checksum >> 1) &+ UInt32(b[i])
        }
        guard u32(11 * bytesPerSector) == checksum else { throw .corrupt("exFAT boot checksum mismatch") }
        let volumeSectors = u64(72)
        guard b[110] == 1 || b[110] == 2 else { throw .corrupt("exFAT with \(b[110]) FATs") }
        guard volumeSectors <= UInt64(volumeLength) / UInt64(bytesPerSector) else {
            throw .corrupt("exFAT claims \(volumeSectors) sectors on a \(volumeLength)-byte volume")
        }
        fatOffset = Int64(u32(80)) * Int64(bytesPerSector)
        clusterHeapOffset = Int64(u32(88)) * Int64(bytesPerSector)
        clusterCount = u32(92)
        rootCluster = u32(96)
        let fatLength = Int64(u32(84)) * Int64(bytesPerSector)
        guard fatOffset >= 24 * Int64(bytesPerSector), fatLength >= (Int64(clusterCount) + 2) * 4,
              fatOffset + fatLength <= clusterHeapOffset,
              clusterHeapOffset + Int64(clusterCount) * Int64(clusterSize) <= volumeLength else {
            throw .corrupt("exFAT FAT or cluster heap outside the volume")
        }
        guard clusterCount >= 1, rootCluster >= 2, rootCluster < clusterCount &+ 2 else {
            throw .corrupt("exFAT root directory cluster \(rootCluster) outside the heap")
        }
    }
}
