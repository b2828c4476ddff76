/// The BIOS Parameter Block of a FAT12/16/32 volume (Microsoft FAT specification §3), validated
/// against the size of the image or partition before anything else is read.
struct FATBootSector: Equatable {
    enum Kind: String { case fat12 = "FAT12", fat16 = "FAT16", fat32 = "FAT32" }

    let bytesPerSector: Int
    let sectorsPerCluster: Int
    let reservedSectors: Int
    let fatCount: Int
    let rootEntryCount: Int
    let totalSectors: Int64
    let sectorsPerFAT: Int64
    let rootCluster: UInt32
    let label: String
    let kind: Kind
    /// Data clusters, numbered 2 ..< clusterCount + 2.
    let clusterCount: UInt32

    var clusterSize: Int { bytesPerSector * sectorsPerCluster }
    var fatOffset: Int64 { Int64(reservedSectors) * Int64(bytesPerSector) }
    var rootDirectoryOffset: Int64 { fatOffset + Int64(fatCount) * sectorsPerFAT * Int64(bytesPerSector) }
    var rootDirectorySize: Int64 { Int64(rootEntryCount) * 32 }
    var dataOffset: Int64 {
        rootDirectoryOffset + (rootDirectorySize + Int64(bytesPerSector) - 1) / Int64(bytesPerSector) * Int64(bytesPerSector)
    }

    func clusterOffset(_ cluster: UInt32) -> Int64 { dataOffset + Int64(cluster - 2) * Int64(clusterSize) }
    func isData(_ cluster: UInt32) -> Bool { cluster >= 2 && cluster < clusterCount &+ 2 }

    init(_ b: [UInt8], volumeLength: Int64) throws(MediaError) {
        func u16(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
        func u32(_ i: Int) -> UInt32 { UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24 }
        guard b.count >= 512 else { throw .shortRead("FAT boot sector") }
        guard b[510] == 0x55, b[511] == 0xAA else { throw .corrupt("FAT boot sector without the 55 AA signature") }
        bytesPerSector = u16(11)
        guard [512, 1024, 2048, 4096].contains(bytesPerSector) else { throw .corrupt("FAT bytes per sector \(bytesPerSector)") }
        sectorsPerCluster = Int(b[13])
        guard sectorsPerCluster > 0, sectorsPerCluster & (sectorsPerCluster - 1) == 0 else {
            throw .corrupt("FAT sectors per cluster \(sectorsPerCluster)")
        }
        reservedSectors = u16(14)
        fatCount = Int(b[16])
        guard reservedSectors >= 1, (1...4).contains(fatCount) else { throw .corrupt("FAT reserved sectors/FAT count") }
        rootEntryCount = u16(17)
        totalSectors = u16(19) != 0 ? Int64(u16(19)) : Int64(u32(32))
        sectorsPerFAT = u16(22) != 0 ? Int64(u16(22)) : Int64(u32(36))
        guard totalSectors > 0, sectorsPerFAT > 0 else { throw .corrupt("FAT with zero sectors or zero-length FAT") }
        guard totalSectors * Int64(bytesPerSector) <= volumeLength else {
            throw .corrupt("FAT claims \(totalSectors * Int64(bytesPerSector)) bytes on a \(volumeLength)-byte volume")
        }
        let rootSectors = (Int64(rootEntryCount) * 32 + Int64(bytesPerSector) - 1) / Int64(bytesPerSector)
        let firstData = Int64(reservedSectors) + Int64(fatCount) * sectorsPerFAT + rootSectors
        guard firstData < totalSectors else { throw .corrupt("FAT metadata larger than the volume") }
        let clusters = (totalSectors - firstData) / Int64(sectorsPerCluster)
        guard clusters >= 1, clusters < 0x0FFF_FFF5 else { throw .corrupt("FAT cluster count \(clusters)") }
        clusterCount = UInt32(clusters)
        kind = clusters < 4085 ? .fat12 : clusters < 65525 ? .fat16 : .fat32
        // The FAT must hold an entry for every cluster.
        let entryBits: Int64 = kind == .fat12 ? 12 : kind == .fat16 ? 16 : 32
        guard sectorsPerFAT * Int64(bytesPerSector) * 8 >= (clusters + 2) * entryBits else {
            throw .corrupt("FAT too small for \(clusters) clusters")
        }
        if kind == .fat32 {
            guard rootEntryCount == 0 else { throw .corrupt("FAT32 with a fixed root directory") }
            rootCluster = u32(44)
        } else {
            guard rootEntryCount > 0 else { throw .corrupt("FAT12/16 without root directory entries") }
            rootCluster = 0
        }
        let labelOffset = kind == .fat32 ? 71 : 43
        let labelSignature = kind == .fat32 ? b[66] : b[38]
        label = labelSignature == 0x29 ? FATNames.shortName(Array(b[labelOffset..<labelOffset + 11]), flags: 0, label: true) : ""
    }
}
