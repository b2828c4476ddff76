#if canImport(Glibc)
import Glibc
import POSIX
#endif

/// A directory tree on a local file system (an already mounted medium, a copied disc).
///
/// Every step is taken relative to the parent's descriptor with `O_NOFOLLOW`, so a symlink is
/// never followed and a name swapped for a symlink after the walk cannot redirect a read.
/// Names that cannot be a `MediaPath` component (not UTF-8, control characters, a backslash)
/// get a stand-in; the path keeps the bytes on disk, and files are opened by those.
public final class DirectoryVolume: Volume {
    public let filesystem = FilesystemType.directory
    public let label: String
    private let root: DirectoryDescriptor

    public init(path: String) throws(MediaError) {
        root = try DirectoryDescriptor(opening: path)
        label = path.split(separator: "/").last.map(String.init) ?? ""
    }

    /// The tree under a directory descriptor another process opened; `path` names it in messages.
    public init(duplicating fd: Int32, path: String) throws(MediaError) {
        root = try DirectoryDescriptor(duplicating: fd, what: path)
        label = path.split(separator: "/").last.map(String.init) ?? ""
    }

    private struct PendingDirectory {
        let path: MediaPath
        let identity: FileIdentity
    }

    public func walk(limits: WalkLimits, visit: (MediaEntry) -> Void, problem: (MediaProblem) -> Void) {
        var budget = WalkBudget(limits)
        var listed: Set<FileIdentity> = [root.identity]
        var stack = [PendingDirectory(path: .root, identity: root.identity)]
        while let directory = stack.popLast(), !budget.exhausted {
            let children: [(name: [UInt8], status: stat)]
            do throws(MediaError) {
                let handle = try open(directory: directory.path, expecting: directory.identity)
                children = try handle.list(maxEntries: limits.maxEntries)
            } catch { problem(.unlisted(directory.path, error)); continue }
            var subdirectories: [PendingDirectory] = []
            var siblings = SiblingNames(children.map(\.name))
            for child in children {
                guard !budget.exhausted else { break }
                let named = siblings.child(of: directory.path, named: child.name)
                let path = named.path
                if let renamed = named.renamed { problem(MediaProblem(path: path, error: renamed)) }
                let identity = FileIdentity(child.status)
                let kind: MediaEntry.Kind
                switch child.status.st_mode & S_IFMT {
                case S_IFREG: kind = .file
                case S_IFDIR: kind = .directory
                case S_IFLNK: kind = .symlink  // reported, never followed
                default: kind = .other
                }
                if kind == .directory, !listed.insert(identity).inserted {
                    problem(MediaProblem(path: path, error: .loop("\(path) is a directory already visited (same device and inode)")))
                    continue
                }
                let size = kind == .file ? Int64(child.status.st_size) : 0
                if let error = budget.admit(path, kind: kind, size: size) {
                    problem(MediaProblem(path: path, error: error))
                    continue
                }
                visit(MediaEntry(path: path, kind: kind, size: size,
                                 locator: .init(start: Int64(bitPattern: UInt64(identity.inode)), extra: Int64(bitPattern: UInt64(identity.device)))))
                if kind == .directory {
                    if let error = budget.mayDescend(into: path) { problem(MediaProblem(path: path, error: error)); continue }
                    subdirectories.append(PendingDirectory(path: path, identity: identity))
                }
            }
            stack.append(contentsOf: subdirectories.reversed())
        }
    }

    /// Opens `path` component by component from the root with `O_NOFOLLOW | O_DIRECTORY`, and
    /// checks that it is still the directory the walk saw.
    private func open(directory path: MediaPath, expecting identity: FileIdentity) throws(MediaError) -> DirectoryDescriptor {
        var current = root
        for index in path.components.indices {
            current = try DirectoryDescriptor(in: current, name: path.mediumName(at: index))
        }
        guard current.identity == identity else { throw .corrupt("\(path) was replaced during the walk") }
        return current
    }

    public func open(_ entry: MediaEntry) throws(MediaError) -> any MediaFile {
        guard entry.kind == .file else { throw .unsupported("\(entry.path) is not a regular file") }
        var parent = root
        for index in entry.path.parent.components.indices {
            parent = try DirectoryDescriptor(in: parent, name: entry.path.mediumName(at: index))
        }
        // O_NONBLOCK: a FIFO swapped in for the file must not block the open.
        let name = entry.path.mediumName(at: entry.path.depth - 1)
        let opened: Descriptor
        do { opened = try Descriptor.open(in: parent.directory, name: name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) } catch {
            throw .io(operation: "open \(entry.path)", errno: error.rawValue)
        }
        let st: stat
        do { st = try opened.status() } catch { throw .io(operation: "fstat \(entry.path)", errno: error.rawValue) }
        let file = try SystemFile(adopting: opened, path: entry.path.description)
        let identity = FileIdentity(st)
        guard st.st_mode & S_IFMT == S_IFREG,
              Int64(bitPattern: UInt64(identity.inode)) == entry.locator.start,
              Int64(bitPattern: UInt64(identity.device)) == entry.locator.extra else {
            throw .corrupt("\(entry.path) was replaced since the walk")
        }
        return try ExtentFile(entry: entry, image: file, base: 0)
    }
}

/// (device, inode): what makes two directory entries the same directory.
struct FileIdentity: Hashable {
    let device: UInt
    let inode: UInt
    init(_ status: stat) { device = UInt(status.st_dev); inode = UInt(status.st_ino) }
}

/// One directory of the walk, with its identity.
final class DirectoryDescriptor {
    let directory: Descriptor
    let identity: FileIdentity

    var descriptor: Int32 { directory.rawValue }

    /// Opens the walk's root. The root itself may not be a symlink either.
    convenience init(opening path: String) throws(MediaError) {
        let opened: Descriptor
        do { opened = try Descriptor.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) } catch {
            throw .io(operation: "open directory \(path)", errno: error.rawValue)
        }
        try self.init(opened, what: path)
    }

    convenience init(duplicating fd: Int32, what: String) throws(MediaError) {
        let copy: Descriptor
        do { copy = try Descriptor.duplicate(fd) } catch { throw .io(operation: "dup \(what)", errno: error.rawValue) }
        try self.init(copy, what: what)
    }

    /// Opens `name` (its bytes on disk) inside `parent` without following a symlink.
    convenience init(in parent: DirectoryDescriptor, name: [UInt8]) throws(MediaError) {
        let shown = MediaPath.printable(name)
        let opened: Descriptor
        do { opened = try Descriptor.open(in: parent.directory, name: name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) } catch {
            throw .io(operation: "open directory \(shown)", errno: error.rawValue)
        }
        try self.init(opened, what: shown)
    }

    private init(_ directory: Descriptor, what: String) throws(MediaError) {
        do { identity = FileIdentity(try directory.status()) } catch { throw .io(operation: "fstat \(what)", errno: error.rawValue) }
        self.directory = directory
    }

    /// Names as bytes (sorted, for a stable order) with their `fstatat(AT_SYMLINK_NOFOLLOW)` status.
    /// At most `maxEntries + 1` are kept, so the caller's entry limit still sees that there were more.
    func list(maxEntries: Int) throws(MediaError) -> [(name: [UInt8], status: stat)] {
        // fdopendir takes over the descriptor it is given: hand it a duplicate.
        let copy = dup(descriptor)
        guard copy >= 0 else { throw .io(operation: "dup", errno: errno) }
        guard let stream = fdopendir(copy) else { let e = errno; close(copy); throw .io(operation: "fdopendir", errno: e) }
        defer { closedir(stream) }
        // The duplicate shares the file offset with the original: start from the beginning.
        rewinddir(stream)
        var names: [[UInt8]] = []
        while names.count <= maxEntries {
            errno = 0
            guard let item = readdir(stream) else {
                if errno != 0 { throw .io(operation: "readdir", errno: errno) }
                break
            }
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            names.append(name)
        }
        var result: [(name: [UInt8], status: stat)] = []
        for name in names.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            var st = stat()
            guard withCString(name, { fstatat(descriptor, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                // Removed between readdir and fstatat: nothing left to report.
                if errno == ENOENT { continue }
                throw .io(operation: "fstatat \(MediaPath.printable(name))", errno: errno)
            }
            result.append((name, st))
        }
        return result
    }
}

/// Calls `body` with `bytes` as a NUL-terminated C string (a name read from disk never holds NUL).
private func withCString<T>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> T) -> T {
    (bytes + [0]).withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
    }
}
