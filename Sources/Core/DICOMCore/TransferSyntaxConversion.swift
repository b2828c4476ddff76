/// Re-encoding a native data set as explicit or implicit VR little endian (what a PACS that accepts
/// nothing else needs): from implicit VR little endian the values keep their bytes and gain the VR
/// the dictionary gives; from explicit VR big endian every binary value is byte-swapped by its
/// VR's unit; to implicit VR the VRs are simply not written.
struct Conversion {
    let fromImplicit: Bool
    let fromBigEndian: Bool
    /// Pixel Representation of the image: 1 makes "US or SS" attributes signed.
    let signedPixels: Bool
    /// Bits Allocated of the image: 32- and 64-bit samples in big endian OW Pixel Data are swapped as
    /// whole samples, the way they were written (pydicom's rtdose_expb against its little endian
    /// original); every other OW value by 16-bit words.
    let bitsAllocated: UInt16

    /// nil when nothing changes (the target is the file's own syntax).
    init?(from original: TransferSyntax, own: TransferSyntax, to target: TransferSyntax, dataSet: DataSet) throws {
        guard target.uid != own.uid else { return nil }
        let targets = [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid]
        guard targets.contains(target.uid), !own.encapsulated, !original.encapsulated else {
            throw DICOMWriter.WriteError.cannotConvert(own.name, target.name)
        }
        fromImplicit = !own.explicitVR
        fromBigEndian = own.bigEndian
        signedPixels = dataSet.uint16(Tag.pixelRepresentation, bigEndian: own.bigEndian) == 1
        bitsAllocated = dataSet.uint16(Tag.bitsAllocated, bigEndian: own.bigEndian) ?? 0
    }

    /// Bytes per unit that big endian values of each VR are swapped by (PS3.5 §7.3).
    static func unit(_ vr: VR) -> Int {
        switch vr {
        case .US, .SS, .OW, .AT: 2
        case .UL, .SL, .FL, .OF, .OL: 4
        case .FD, .OD, .SV, .UV, .OV: 8
        default: 1
        }
    }

    /// The VR a value is written with. From implicit VR: "US or SS" is signed when the image is,
    /// overlay data is OW, and a value longer than its VR's 16-bit length becomes UN (PS3.5
    /// §6.2.2 allows it; the little endian bytes stay the same).
    func vr(_ tag: Tag, _ vr: VR, length: Int64) -> VR {
        guard fromImplicit else { return vr }
        var written = vr
        if let entry = DataDictionary.entry(for: tag), entry.vrs.count > 1 {
            if entry.vrs.contains(.SS) && entry.vrs.contains(.US) { written = signedPixels ? .SS : .US }
            if tag.group & 0xFF00 == 0x6000 && tag.element == 0x3000 { written = .OW }
        }
        if !written.usesLongLength && (length + 1) & ~1 > 0xFFFF { written = .UN }
        return written
    }

    /// The dictionary VR of a public attribute stored as UN, when its value fits that VR: a whole
    /// number of binary units, and within a 16-bit length for the short VRs. nil keeps UN.
    static func dictionaryVR(_ tag: Tag, length: Int64, signedPixels: Bool) -> VR? {
        guard tag.group & 1 == 0, tag.group > 0x0002, tag.group != 0xFFFE, tag.element != 0x0000,
              let entry = DataDictionary.entry(for: tag), var vr = entry.vr ?? entry.vrs.first else { return nil }
        if entry.vrs.count > 1 {
            if entry.vrs.contains(.SS) && entry.vrs.contains(.US) { vr = signedPixels ? .SS : .US }
            else if entry.vrs.contains(.OB) { vr = .OB }
            else { return nil }
        }
        guard vr != .SQ, vr != .UN, length % Int64(unit(vr)) == 0 else { return nil }
        if !vr.usesLongLength && (length + 1) & ~1 > 0xFFFF { return nil }
        return vr
    }

    /// The unit big endian bytes of this value are swapped by (1: none).
    func swapUnit(_ tag: Tag, _ vr: VR, length: Int64) throws -> Int {
        guard fromBigEndian else { return 1 }
        if vr == .UN { throw DICOMWriter.WriteError.unknownByteOrder(tag) }
        var unit = Conversion.unit(vr)
        if tag == Tag.pixelData && vr == .OW && (bitsAllocated == 32 || bitsAllocated == 64) { unit = Int(bitsAllocated / 8) }
        guard length % Int64(unit) == 0 else { throw DICOMWriter.WriteError.misalignedValue(tag, vr, length) }
        return unit
    }

    static func swapped(_ bytes: [UInt8], unit: Int) -> [UInt8] {
        var out = bytes
        var i = 0
        while i + unit <= out.count {
            out[i..<i + unit].reverse()
            i += unit
        }
        return out
    }
}
