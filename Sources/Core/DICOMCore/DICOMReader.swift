/// Reads Part 10 files (and raw data sets without meta, when allowed) within `ParsingOptions`.
public enum DICOMReader {
    static let magic: [UInt8] = Array("DICM".utf8)

    public static func read(_ source: any ByteSource, options: ParsingOptions = ParsingOptions()) throws(DICOMParseError) -> DICOMFile {
        guard source.count <= options.maxFileSize else {
            throw DICOMParseError(.fileTooLarge, at: 0, "file of \(source.count) bytes exceeds the limit of \(options.maxFileSize)")
        }
        var cursor = ByteCursor(source: source)
        var issues: [ParseIssue] = []
        var preamble: [UInt8]?
        var meta = DataSet()

        if source.count >= 132, try Array(cursor.peek(132).suffix(4)) == magic {
            preamble = Array(try cursor.take(128))
            _ = try cursor.take(4)
            meta = try readMeta(&cursor, issues: &issues)
        } else if try startsWithMetaGroup(&cursor) {
            issues.append(ParseIssue(.noFileMeta, at: 0, "no preamble: the file starts with its meta group"))
            meta = try readMeta(&cursor, issues: &issues)
        } else {
            guard options.allowMissingMeta else {
                throw DICOMParseError(.noFileMeta, at: 128, "no \"DICM\" prefix and no File Meta Information")
            }
            issues.append(ParseIssue(.noFileMeta, at: 0, "no preamble and no File Meta Information"))
        }

        let dataStart = cursor.position
        var syntax: TransferSyntax
        if let uid = meta.string(Tag.transferSyntaxUID), !uid.isEmpty {
            guard let known = TransferSyntax.known(uid) else {
                throw DICOMParseError(.unsupportedTransferSyntax, at: dataStart, tag: Tag.transferSyntaxUID,
                                      "transfer syntax \(uid) is not on the allow-list")
            }
            syntax = known
        } else {
            syntax = try guessEncoding(&cursor)
            if !meta.isEmpty {
                issues.append(ParseIssue(.missingTransferSyntax, at: dataStart, tag: Tag.transferSyntaxUID,
                                         "no Transfer Syntax UID; read as \(syntax.name)"))
            }
        }

        // Some writers label an implicit VR data set as explicit: when no VR follows the first tag
        // but a plausible implicit length does, read it as implicit VR (as pydicom and dcmtk do).
        if syntax.explicitVR && !syntax.bigEndian && !syntax.deflated && cursor.remaining >= 8 {
            let header = try cursor.peek(8)
            if VR(header[header.startIndex + 4], header[header.startIndex + 5]) == nil,
               Int64(header.u32(4, bigEndian: false)) <= cursor.remaining - 8 {
                issues.append(ParseIssue(.unknownVR, at: dataStart, "labelled \(syntax.name) but encoded in implicit VR"))
                syntax = syntax.encapsulated
                    ? TransferSyntax(uid: syntax.uid, explicitVR: false, encapsulated: true, name: syntax.name + " (implicit VR)")
                    : .implicitVRLittleEndian
            }
        }
        let encoding = DataSetParser.Encoding(explicitVR: syntax.explicitVR, bigEndian: syntax.bigEndian)
        if syntax.deflated {
            let compressed: [UInt8]
            do { compressed = try source.read(at: dataStart, count: Int(source.count - dataStart)) } catch {
                throw DICOMParseError(.source, at: dataStart, "read failed: \(error)")
            }
            let inflated = try Inflate.raw(compressed, limit: options.maxFileSize, at: dataStart)
            // Offsets inside an inflated data set refer to the inflated bytes: keep every value inline.
            var parser = DataSetParser(cursor: ByteCursor(source: InMemoryByteSource(inflated)), options: options, encapsulated: false)
            parser.inlineLimit = Int.max
            let (dataSet, trailing) = try parser.parseRoot(end: Int64(inflated.count), encoding: encoding)
            issues += parser.issues
            if trailing != nil {
                throw DICOMParseError(.badDelimiter, at: dataStart, "data after the end of the deflated data set")
            }
            return DICOMFile(preamble: preamble, meta: meta, dataSet: dataSet, transferSyntax: syntax, issues: issues)
        }
        var parser = DataSetParser(cursor: cursor, options: options, encapsulated: syntax.encapsulated)
        let (dataSet, trailing) = try parser.parseRoot(end: source.count, encoding: encoding)
        issues += parser.issues
        return DICOMFile(preamble: preamble, meta: meta, dataSet: dataSet, transferSyntax: syntax,
                         trailingBytes: trailing, issues: issues)
    }

    /// File Meta Information: group 0002, always explicit VR little endian (PS3.10 §7.1); anything
    /// else is refused (THREATS.md 8).
    static func readMeta(_ cursor: inout ByteCursor, issues: inout [ParseIssue]) throws(DICOMParseError) -> DataSet {
        var elements: [DataElement] = []
        var declaredEnd: Int64?
        while cursor.remaining >= 8 {
            let start = cursor.position
            let header = try cursor.peek(8)
            let group = header.u16(0, bigEndian: false)
            guard group == 0x0002 else { break }
            let tag = Tag(group, header.u16(2, bigEndian: false))
            guard let vr = VR(header[header.startIndex + 4], header[header.startIndex + 5]) else {
                throw DICOMParseError(.badMetaEncoding, at: start, tag: tag, "File Meta Information is not explicit VR little endian")
            }
            let length: Int64
            if vr.usesLongLength {
                length = Int64(try cursor.peek(12).u32(8, bigEndian: false))
                _ = try cursor.take(12)
            } else {
                length = Int64(header.u16(6, bigEndian: false))
                _ = try cursor.take(8)
            }
            guard length <= 1 << 16, length <= cursor.remaining else {
                throw DICOMParseError(.lengthOverflow, at: start, tag: tag, "meta element length \(length) is implausible")
            }
            let bytes = Array(try cursor.take(Int(length)))
            if tag == Tag.fileMetaInformationGroupLength, bytes.count == 4 {
                declaredEnd = cursor.position + Int64(ArraySlice(bytes).u32(0, bigEndian: false))
            }
            elements.append(DataElement(tag: tag, vr: vr, value: .bytes(.inline(bytes)), offset: start))
            if elements.count > 64 {
                throw DICOMParseError(.tooManyElements, at: start, tag: tag, "more than 64 meta elements")
            }
        }
        if let declaredEnd, declaredEnd != cursor.position {
            issues.append(ParseIssue(.metaGroupLength, at: cursor.position, tag: Tag.fileMetaInformationGroupLength,
                                     "File Meta Information Group Length says the group ends at \(declaredEnd)"))
        }
        return DataSet(elements, issues: &issues)
    }

    static func startsWithMetaGroup(_ cursor: inout ByteCursor) throws(DICOMParseError) -> Bool {
        guard cursor.remaining >= 8 else { return false }
        let header = try cursor.peek(8)
        return header.u16(0, bigEndian: false) == 0x0002 && VR(header[header.startIndex + 4], header[header.startIndex + 5]) != nil
    }

    /// A data set without a transfer syntax: explicit VR if a VR follows the first tag, big endian
    /// if the group only makes sense read that way, else implicit VR little endian.
    static func guessEncoding(_ cursor: inout ByteCursor) throws(DICOMParseError) -> TransferSyntax {
        guard cursor.remaining >= 8 else {
            throw DICOMParseError(.truncated, at: cursor.position, "too short for a data set")
        }
        let header = try cursor.peek(8)
        let explicit = VR(header[header.startIndex + 4], header[header.startIndex + 5]) != nil
        guard explicit else { return .implicitVRLittleEndian }
        let little = header.u16(0, bigEndian: false), big = header.u16(0, bigEndian: true)
        return (big < little && big <= 0x0FFF) ? .explicitVRBigEndian : .explicitVRLittleEndian
    }

    /// Whether the first bytes of a file are DICOM: the Part 10 "DICM" prefix, or a plausible raw
    /// data set (two ascending elements of the meta, identifying or patient groups).
    public static func looksLikeDICOM(prefix: [UInt8]) -> Bool {
        if prefix.count >= 132, Array(prefix[128..<132]) == magic { return true }
        guard prefix.count >= 16 else { return false }
        var cursor = ByteCursor(source: InMemoryByteSource(prefix))
        guard let syntax = try? guessEncoding(&cursor) else { return false }
        var parser = DataSetParser(cursor: cursor, options: ParsingOptions(), encapsulated: false)
        parser.inlineLimit = 0
        // Parse what the prefix holds; it must start in a plausible group and not fail before its end.
        let first = ArraySlice(prefix).u16(0, bigEndian: syntax.bigEndian)
        guard [0x0002, 0x0008, 0x0010].contains(first) else { return false }
        let encoding = DataSetParser.Encoding(explicitVR: syntax.explicitVR, bigEndian: syntax.bigEndian)
        do {
            _ = try parser.parseRoot(end: Int64(prefix.count), encoding: encoding)
            return true
        } catch {
            return error.kind == .truncated && error.offset > 16
        }
    }
}
