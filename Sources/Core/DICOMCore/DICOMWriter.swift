public struct WriteOptions: Sendable {
    public var implementationClassUID: String
    public var implementationVersionName: String
    /// Write in this transfer syntax instead of the file's own: explicit or implicit VR little
    /// endian, from any native (uncompressed) syntax — a lossless re-encoding. Compressed pixel
    /// data is never converted (it would need decoding).
    public var transferSyntax: TransferSyntax?

    public init(implementationClassUID: String, implementationVersionName: String) {
        self.implementationClassUID = implementationClassUID
        self.implementationVersionName = implementationVersionName
    }
}

/// Writes a new Part 10 file from a parsed model: 128 zero bytes, "DICM", a rebuilt meta group,
/// and the data set in the transfer syntax it was read in (so value bytes stay identical), except
/// that deflated data sets are written as explicit VR little endian. Every sequence and item gets
/// an explicit length (except unknown sequences in implicit VR, see `write`); encapsulated Pixel
/// Data keeps the undefined length the standard requires;
/// retired group lengths are dropped; odd values are padded.
public enum DICOMWriter {
    public static func write(_ file: DICOMFile, source: any ByteSource,
                             to sink: (UnsafeRawBufferPointer) throws -> Void, options: WriteOptions) throws {
        // The transfer syntax the UID names (a data set mislabelled on read is written as labelled;
        // little endian values are the same bytes either way), deflate undone.
        let named = TransferSyntax.known(file.transferSyntax.uid) ?? file.transferSyntax
        let own = named.deflated ? TransferSyntax.explicitVRLittleEndian : named
        let syntax = options.transferSyntax ?? own
        let conversion = try Conversion(from: file.transferSyntax, own: own, to: syntax, dataSet: file.dataSet)
        try withoutActuallyEscaping(sink) { sink in
            var out = Output(sink: sink, source: source)
            try out.bytes([UInt8](repeating: 0, count: 128) + DICOMReader.magic)
            let meta = buildMeta(file, syntax: syntax, options: options)
            let metaEncoder = Encoder(encoding: .init(explicitVR: true, bigEndian: false))
            try metaEncoder.write(meta, to: &out)
            var encoder = Encoder(encoding: .init(explicitVR: syntax.explicitVR, bigEndian: syntax.bigEndian), conversion: conversion)
            encoder.signedPixels = file.dataSet.uint16(Tag.pixelRepresentation, bigEndian: own.bigEndian) == 1
            encoder.resolvesUN = !own.bigEndian
            try encoder.write(file.dataSet, to: &out)
            try out.flush()
        }
    }

    /// The whole file in memory (tests, small files).
    public static func data(_ file: DICOMFile, source: any ByteSource, options: WriteOptions) throws -> [UInt8] {
        var result: [UInt8] = []
        try write(file, source: source, to: { result.append(contentsOf: $0) }, options: options)
        return result
    }

    static func buildMeta(_ file: DICOMFile, syntax: TransferSyntax, options: WriteOptions) -> DataSet {
        func text(_ string: String, _ vr: VR) -> [UInt8] {
            var bytes = Array(string.utf8)
            if bytes.count & 1 == 1 { bytes.append(vr.paddingByte) }
            return bytes
        }
        var meta = file.meta
        meta.remove(Tag.fileMetaInformationGroupLength)
        let set = { (tag: Tag, vr: VR, bytes: [UInt8]) in meta.set(DataElement(tag: tag, vr: vr, value: .bytes(.inline(bytes)))) }
        set(Tag.fileMetaInformationVersion, .OB, [0x00, 0x01])
        let sopClass = file.dataSet.string(Tag.sopClassUID) ?? file.meta.string(Tag.mediaStorageSOPClassUID) ?? ""
        let sopInstance = file.dataSet.string(Tag.sopInstanceUID) ?? file.meta.string(Tag.mediaStorageSOPInstanceUID) ?? ""
        set(Tag.mediaStorageSOPClassUID, .UI, text(sopClass, .UI))
        set(Tag.mediaStorageSOPInstanceUID, .UI, text(sopInstance, .UI))
        set(Tag.transferSyntaxUID, .UI, text(syntax.uid, .UI))
        set(Tag.implementationClassUID, .UI, text(options.implementationClassUID, .UI))
        set(Tag.implementationVersionName, .SH, text(options.implementationVersionName, .SH))
        let groupLength = Encoder(encoding: .init(explicitVR: true, bigEndian: false)).size(of: meta)
        meta.set(DataElement(tag: Tag.fileMetaInformationGroupLength, vr: .UL, value: .bytes(.inline(Encoder.le32(UInt32(groupLength))))))
        return meta
    }

    /// Buffered output: small pieces are gathered into 256 KiB chunks; deferred values are copied
    /// from the source in 1 MiB pieces.
    struct Output {
        let sink: (UnsafeRawBufferPointer) throws -> Void
        let source: any ByteSource
        var buffer: [UInt8] = []

        init(sink: @escaping (UnsafeRawBufferPointer) throws -> Void, source: any ByteSource) {
            self.sink = sink
            self.source = source
            buffer.reserveCapacity(Output.chunk)
        }

        static let chunk = 256 << 10

        mutating func bytes<C: Collection>(_ bytes: C) throws where C.Element == UInt8 {
            if buffer.count + bytes.count > Output.chunk { try flush() }
            if bytes.count >= Output.chunk {
                try Array(bytes).withUnsafeBytes { try sink($0) }
            } else {
                buffer.append(contentsOf: bytes)
            }
        }

        /// Writes a value; `swapUnit` > 1 reverses the bytes of each unit of that size (big endian
        /// to little endian). Deferred values are copied in 1 MiB pieces, a multiple of every unit.
        mutating func value(_ value: ValueBytes, pad: UInt8?, swapUnit: Int = 1) throws {
            switch value {
            case let .inline(bytes): try self.bytes(swapUnit > 1 ? Conversion.swapped(bytes, unit: swapUnit) : bytes)
            case let .deferred(offset, length):
                try flush()
                // A file in memory is written straight from its buffer, without a copy per piece.
                if swapUnit == 1, let memory = source as? any InMemoryBytes, offset >= 0, offset + length <= memory.count {
                    try memory.bytes.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[Int(offset)..<Int(offset + length)])) }
                    if let pad { try bytes(CollectionOfOne(pad)) }
                    return
                }
                var done: Int64 = 0
                while done < length {
                    let piece = Int(min(length - done, 1 << 20))
                    var bytes = try source.read(at: offset + done, count: piece)
                    if swapUnit > 1 { bytes = Conversion.swapped(bytes, unit: swapUnit) }
                    try bytes.withUnsafeBytes { try sink($0) }
                    done += Int64(piece)
                }
            }
            if let pad { try bytes(CollectionOfOne(pad)) }
        }

        mutating func flush() throws {
            guard !buffer.isEmpty else { return }
            try buffer.withUnsafeBytes { try sink($0) }
            buffer.removeAll(keepingCapacity: true)
        }
    }

    struct Encoder {
        let encoding: DataSetParser.Encoding
        var conversion: Conversion? = nil
        /// Public attributes some writers store as UN (gdcmconv, anonymisers) get their dictionary
        /// VR back: a PACS built on DCMTK cannot read a UN SOP Class UID and refuses the instance.
        /// Only from little endian, where a UN value's bytes are those of the real VR.
        var resolvesUN = false
        var signedPixels = false

        static func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }

        func u16(_ v: UInt16) -> [UInt8] {
            encoding.bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)]
        }

        func u32(_ v: UInt32) -> [UInt8] {
            encoding.bigEndian ? [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] : DICOMWriter.Encoder.le32(v)
        }

        /// Group lengths other than the meta group's are retired (PS3.5 §7.2) and dropped.
        static func isWritten(_ element: DataElement) -> Bool {
            element.tag.element != 0x0000 || element.tag.group == 0x0002
        }

        func headerSize(_ vr: VR) -> Int64 { encoding.explicitVR && !vr.usesLongLength ? 8 : 12 - (encoding.explicitVR ? 0 : 4) }

        /// Encoded size of a data set's elements. Recursion depth is bounded by the parser's depth limit.
        func size(of dataSet: DataSet) -> Int64 {
            dataSet.elements.reduce(0) { $0 + (Encoder.isWritten($1) ? size(of: $1) : 0) }
        }

        func valueSize(of element: DataElement) -> Int64 {
            switch element.value {
            case let .bytes(value): return (value.length + 1) & ~1
            case let .sequence(items):
                let delimiter: Int64 = !encoding.explicitVR && DataDictionary.entry(for: element.tag)?.vr != .SQ ? 8 : 0
                return items.reduce(delimiter) { $0 + 8 + size(of: $1.dataSet) }
            case let .fragments(table, fragments):
                return ([table] + fragments).reduce(0) { $0 + 8 + (($1.bytes.length + 1) & ~1) } + 8
            }
        }

        func size(of element: DataElement) -> Int64 { headerSize(writtenVR(element)) + valueSize(of: element) }

        /// The element's VR, or the one a conversion writes it with (sequences and fragments keep theirs).
        func writtenVR(_ element: DataElement) -> VR {
            guard case let .bytes(value) = element.value else { return element.vr }
            var vr = element.vr
            if vr == .UN, resolvesUN, let known = Conversion.dictionaryVR(element.tag, length: value.length, signedPixels: signedPixels) {
                vr = known
            }
            return conversion?.vr(element.tag, vr, length: value.length) ?? vr
        }

        /// An item or delimiter (FFFE group): tag and 32-bit length, no VR even in explicit VR.
        func itemHeader(_ tag: Tag, length: UInt32) -> [UInt8] { u16(tag.group) + u16(tag.element) + u32(length) }

        func header(_ tag: Tag, _ vr: VR, length: UInt32) -> [UInt8] {
            var bytes = u16(tag.group) + u16(tag.element)
            if encoding.explicitVR {
                let (a, b) = vr.headerBytes
                bytes += [a, b]
                bytes += vr.usesLongLength ? [0, 0] + u32(length) : u16(UInt16(truncatingIfNeeded: length))
            } else {
                bytes += u32(length)
            }
            return bytes
        }

        func write(_ dataSet: DataSet, to out: inout Output) throws {
            for element in dataSet.elements where Encoder.isWritten(element) {
                try write(element, to: &out)
            }
        }

        func write(_ element: DataElement, to out: inout Output) throws {
            switch element.value {
            case let .bytes(value):
                let padded = (value.length + 1) & ~1
                let vr = writtenVR(element)
                let swapUnit = try conversion?.swapUnit(element.tag, vr, length: value.length) ?? 1
                guard vr.usesLongLength || !encoding.explicitVR || padded <= 0xFFFF else {
                    throw WriteError.valueTooLong(element.tag, padded)
                }
                guard padded < 0xFFFF_FFFF else { throw WriteError.valueTooLong(element.tag, padded) }
                try out.bytes(header(element.tag, vr, length: UInt32(padded)))
                try out.value(value, pad: padded == value.length ? nil : vr.paddingByte, swapUnit: swapUnit)
            case let .sequence(items):
                // An UN sequence is written as SQ: its items were decoded, so their VRs are known.
                // In implicit VR a sequence the dictionary does not know (private, unknown) keeps
                // its undefined length: with a defined length no reader could tell it from bytes.
                let undefined = !encoding.explicitVR && DataDictionary.entry(for: element.tag)?.vr != .SQ
                let length = valueSize(of: element)
                guard length < 0xFFFF_FFFF else { throw WriteError.valueTooLong(element.tag, length) }
                try out.bytes(header(element.tag, .SQ, length: undefined ? 0xFFFF_FFFF : UInt32(length)))
                for item in items {
                    try out.bytes(itemHeader(Tag.item, length: UInt32(truncatingIfNeeded: size(of: item.dataSet))))
                    try write(item.dataSet, to: &out)
                }
                if undefined { try out.bytes(itemHeader(Tag.sequenceDelimitationItem, length: 0)) }
            case let .fragments(table, fragments):
                // Encapsulated Pixel Data is OB (PS3.5 §A.4).
                try out.bytes(header(element.tag, .OB, length: 0xFFFF_FFFF))
                for fragment in [table] + fragments {
                    let padded = (fragment.bytes.length + 1) & ~1
                    guard padded < 0xFFFF_FFFF else { throw WriteError.valueTooLong(element.tag, padded) }
                    try out.bytes(itemHeader(Tag.item, length: UInt32(padded)))
                    try out.value(fragment.bytes, pad: padded == fragment.bytes.length ? nil : 0)
                }
                try out.bytes(itemHeader(Tag.sequenceDelimitationItem, length: 0))
            }
        }
    }

    public enum WriteError: Error, CustomStringConvertible, Equatable {
        case valueTooLong(Tag, Int64)
        /// The requested transfer syntax is not a lossless re-encoding of the file's (from, to).
        case cannotConvert(String, String)
        /// A big endian UN value: its byte order cannot be known, so it cannot be converted.
        case unknownByteOrder(Tag)
        /// A big endian value whose length is not a multiple of its VR's unit.
        case misalignedValue(Tag, VR, Int64)

        public var description: String {
            switch self {
            case let .valueTooLong(tag, length): "\(tag) value of \(length) bytes does not fit its VR's 16-bit length"
            case let .cannotConvert(from, to): "\(from) cannot be converted losslessly to \(to)"
            case let .unknownByteOrder(tag): "\(tag) is UN in a big endian data set: its byte order is unknown"
            case let .misalignedValue(tag, vr, length): "\(tag) \(vr.rawValue) value of \(length) bytes is not whole units"
            }
        }
    }
}
