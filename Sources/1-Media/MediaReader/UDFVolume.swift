/// A UDF file system (DVD, Blu-ray, bridge disc) on an image file or block device, listed
/// through libudf and read with `pread` on the image.
///
/// Every directory's File Identifier Descriptors are checked in Swift before libudf walks
/// them. File bytes are located from the file's own File Entry (short/long allocation
/// descriptors, embedded data), not with `udf_read_block`: libudf keeps a single read position
/// per volume, reset by every `udf_readdir`, so it cannot serve random access during a walk.
/// libudf 2.1.0 limits: directories stored inside their File Entry and roots in Extended File
/// Entries are not listed (reported as problems / `.unsupported`).
public final class UDFVolume: Volume {
    public let filesystem = FilesystemType.udf
    public let label: String
    private let image: SystemFile
    private let handle: UDFHandle
    private let partitionStart: UInt32

    /// Directory data larger than this is refused before libudf allocates for it.
    static let maxDirectoryBytes: Int64 = 8 << 20

    public convenience init(path: String) throws(MediaError) {
        try self.init(image: try SystemFile(readOnly: path))
    }

    init(image: SystemFile) throws(MediaError) {
        let path = image.path
        self.image = image
        try UDFRootCheck.check(image)
        // libudf reopens the file by name: go through our descriptor so both see the same file.
        guard let handle = UDFHandle(path: "/proc/self/fd/\(image.descriptor)") else {
            throw .unsupported("\(path): libudf finds no UDF anchor and volume descriptors")
        }
        guard let root = handle.root(), let layout = root.layout else {
            throw .unsupported("\(path): libudf finds no UDF partition with a root directory")
        }
        self.handle = handle
        partitionStart = layout.partitionStart
        label = handle.volumeID
    }

    private struct Frame {
        let path: MediaPath
        let cursor: UDFCursor
        let identifiers: [UDFIdentifier]
        var index = 0
        /// Names met so far: a second entry with the same name is reported, not listed.
        var names: Set<String> = []
        /// Stand-ins for hostile names, chosen knowing every name in the directory.
        var siblings: SiblingNames
        /// Data locations of this directory and its ancestors: meeting one again is a loop.
        let ancestors: [Int64]
    }

    /// Depth-first: a stack of open directory cursors, at most `maxDepth` deep.
    public func walk(limits: WalkLimits, visit: (MediaEntry) -> Void, problem: (MediaProblem) -> Void) {
        var budget = WalkBudget(limits)
        guard let root = handle.root() else {
            problem(MediaProblem(path: .root, error: .corrupt("libudf cannot open the root directory")))
            return
        }
        var listed: Set<Int64> = []
        var stack: [Frame] = []
        do throws(MediaError) {
            let (identifiers, location) = try prepare(root, path: .root)
            listed.insert(location)
            stack.append(Frame(path: .root, cursor: root, identifiers: identifiers, siblings: SiblingNames(names: identifiers.compactMap(\.name)),
                               ancestors: [location]))
        } catch { problem(MediaProblem(path: .root, error: error)); return }

        while !stack.isEmpty, !budget.exhausted {
            let top = stack.count - 1
            let frame = stack[top]
            guard frame.cursor.next() else {
                if frame.index < frame.identifiers.count {
                    problem(MediaProblem(path: frame.path, error: .corrupt("\(frame.path): libudf stopped after \(frame.index) of \(frame.identifiers.count) entries")))
                }
                stack.removeLast()
                continue
            }
            // Pair libudf's position with the FID checked in Swift.
            guard frame.index < frame.identifiers.count, frame.cursor.fidOffset == frame.identifiers[frame.index].offset else {
                problem(MediaProblem(path: frame.path, error: .corrupt("\(frame.path): libudf went to a FID the directory check did not see")))
                stack.removeLast()
                continue
            }
            let identifier = frame.identifiers[frame.index]
            stack[top].index += 1
            if identifier.isParent || identifier.isDeleted { continue }
            guard let name = identifier.name else {
                problem(MediaProblem(path: frame.path, error: .corrupt("\(frame.path): entry at \(identifier.offset) has no decodable name")))
                continue
            }
            // libudf walks the directory by its entries, not by name: a hostile name gets a stand-in.
            let named = stack[top].siblings.child(of: frame.path, named: name)
            let path = named.path
            if let renamed = named.renamed { problem(MediaProblem(path: path, error: renamed)) }
            guard stack[top].names.insert(name).inserted else {
                problem(MediaProblem(path: path, error: .corrupt("\(path): second entry with this name")))
                continue
            }

            // libudf has just read this entry's File Entry into the cursor.
            let fileEntry: UDFFileEntry
            do throws(MediaError) {
                guard let layout = frame.cursor.layout else { throw .corrupt("no file entry") }
                fileEntry = try UDFFileEntry(layout.fileEntry)
            } catch { problem(MediaProblem(path: path, error: error)); continue }
            let kind: MediaEntry.Kind
            switch fileEntry.fileType {
            case 4: kind = .directory
            case 5: kind = .file
            case 12: kind = .symlink  // reported, never followed
            default: kind = identifier.isDirectory ? .directory : .other
            }
            let size = kind == .file ? Int64(clamping: fileEntry.length) : 0
            let entryOffset = (Int64(partitionStart) + Int64(identifier.icbBlock)) * Int64(UDF.blockSize)
            let entry = MediaEntry(path: path, kind: kind, size: size, locator: .init(start: entryOffset))
            if kind == .file {
                // Same check as `open`: every extent must lie inside the image (a cut image fails here).
                do throws(MediaError) { _ = try UDFFile(entry: entry, image: image, fileEntry: fileEntry, partitionStart: partitionStart) }
                catch { problem(MediaProblem(path: path, error: error, unreadable: entry)); continue }
            }
            if let error = budget.admit(path, kind: kind, size: size) {
                problem(MediaProblem(path: path, error: error))
                continue
            }
            guard kind == .directory else { visit(entry); continue }

            guard let child = frame.cursor.openSubdirectory() else {
                problem(.unlisted(path, .corrupt("\(path): libudf cannot open this directory"), locator: entry.locator))
                continue
            }
            let identifiers: [UDFIdentifier], location: Int64
            do throws(MediaError) { (identifiers, location) = try prepare(child, path: path) }
            catch { problem(.unlisted(path, error, locator: entry.locator)); continue }
            if frame.ancestors.contains(location) {
                problem(MediaProblem(path: path, error: .loop("\(path) points back to the data of an enclosing directory")))
                continue
            }
            guard listed.insert(location).inserted else {
                problem(MediaProblem(path: path, error: .crossLink("\(path) shares its data with another directory")))
                continue
            }
            visit(entry)
            if let error = budget.mayDescend(into: path) { problem(MediaProblem(path: path, error: error)); continue }
            stack.append(Frame(path: path, cursor: child, identifiers: identifiers, siblings: SiblingNames(names: identifiers.compactMap(\.name)),
                              ancestors: frame.ancestors + [location]))
        }
    }

    /// Checks an opened, not yet read directory as libudf will read it: blocks `i_loc…i_loc_end`
    /// of the partition, `dir_left` bytes of FIDs. Returns the FIDs and the data location.
    private func prepare(_ cursor: UDFCursor, path: MediaPath) throws(MediaError) -> ([UDFIdentifier], Int64) {
        guard let layout = cursor.layout else { throw .corrupt("\(path): no directory entry") }
        let entry = try UDFFileEntry(layout.fileEntry)
        // libudf 2.1.0 lists only directories with short/long allocation descriptors.
        guard case .extents = entry.storage else {
            throw .unsupported("\(path): directory stored inside its file entry, which libudf cannot list")
        }
        guard layout.first <= layout.last else { throw .corrupt("\(path): directory extent ends before it starts") }
        let blocks = Int64(layout.last) - Int64(layout.first) + 1
        let bytes = blocks * Int64(UDF.blockSize)
        let start = (Int64(layout.partitionStart) + Int64(layout.first)) * Int64(UDF.blockSize)
        guard bytes <= UDFVolume.maxDirectoryBytes else { throw .corrupt("\(path): directory of \(bytes) bytes") }
        guard start + bytes <= image.size else {
            throw .corrupt("\(path): directory data at byte \(start) lies outside the \(image.size)-byte image")
        }
        guard layout.length <= UInt64(bytes) else {
            throw .corrupt("\(path): directory length \(layout.length) exceeds its \(bytes)-byte extent")
        }
        let data = try image.readBytes(at: start, count: Int(bytes))
        guard data.count == Int(bytes) else { throw .shortRead("\(path): directory data ends at byte \(start + Int64(data.count))") }
        let identifiers = try UDFIdentifier.scan(data, length: layout.length)
        // libudf reads each entry's File Entry block: it must lie inside the image.
        for identifier in identifiers where (Int64(partitionStart) + Int64(identifier.icbBlock) + 1) * Int64(UDF.blockSize) > image.size {
            throw .corrupt("\(path): entry at \(identifier.offset) has its file entry outside the image")
        }
        return (identifiers, start)
    }

    public func open(_ entry: MediaEntry) throws(MediaError) -> any MediaFile {
        guard entry.kind == .file else { throw .unsupported("\(entry.path) is not a regular file") }
        let bytes = try image.readBytes(at: entry.locator.start, count: UDF.blockSize)
        let fileEntry = try UDFFileEntry(bytes)
        return try UDFFile(entry: entry, image: image, fileEntry: fileEntry, partitionStart: partitionStart)
    }
}
