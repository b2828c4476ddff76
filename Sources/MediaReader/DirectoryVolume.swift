#if canImport(Glibc)
import Glibc
#endif

/// A directory tree on a local file system (an already mounted medium, a copied disc).
///
/// Every step is taken relative to the parent's descriptor with `O_NOFOLLOW`, so a symlink is
/// never followed and a name swapped for a symlink after the walk cannot redirect a read.
/// Names that are not valid UTF-8 are reported as problems (a `MediaPath` must map back to
/// the exact bytes on disk).
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
            let children: [(name: String, status: stat)]
            do throws(MediaError) {
                let handle = try open(directory: directory.path, expecting: directory.identity)
                children = try handle.list(maxEntries: limits.maxEntries, problem: { name, error in
                    problem(MediaProblem(path: directory.path, error: .unsafePath("\(directory.path)/\(name)", reason: error)))
                })
            } catch { problem(MediaProblem(path: directory.path, error: error)); continue }
            var subdirectories: [PendingDirectory] = []
            for child in children {
                guard !budget.exhausted else { break }
                let path: MediaPath
                do throws(MediaError) { path = try directory.path.appending(child.name) }
                catch { problem(MediaProblem(path: directory.path, error: error)); continue }
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
        for name in path.components {
            current = try DirectoryDescriptor(in: current, name: name)
        }
        guard current.identity == identity else { throw .corrupt("\(path) was replaced during the walk") }
        return current
    }

    public func open(_ entry: MediaEntry) throws(MediaError) -> any MediaFile {
        guard entry.kind == .file else { throw .unsupported("\(entry.path) is not a regular file") }
        var parent = root
        for name in entry.path.parent.components {
            parent = try DirectoryDescriptor(in: parent, name: name)
        }
        // O_NONBLOCK: a FIFO swapped in for the file must not block the open.
        let fd = SystemFile.retrying { openat(parent.descriptor, entry.path.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { throw .io(operation: "open \(entry.path)", errno: errno) }
        let file = try SystemFile(adopting: fd, path: entry.path.description)
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(operation: "fstat \(entry.path)", errno: errno) }
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

/// Owner of one directory descriptor (closed in deinit).
final class DirectoryDescriptor {
    let descriptor: Int32
    let identity: FileIdentity

    /// Opens the walk's root. The root itself may not be a symlink either.
    convenience init(opening path: String) throws(MediaError) {
        let fd = SystemFile.retrying { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw .io(operation: "open directory \(path)", errno: errno) }
        try self.init(adopting: fd, what: path)
    }

    convenience init(duplicating fd: Int32, what: String) throws(MediaError) {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw .io(operation: "dup \(what)", errno: errno) }
        try self.init(adopting: copy, what: what)
    }

    /// Opens `name` inside `parent` without following a symlink.
    convenience init(in parent: DirectoryDescriptor, name: String) throws(MediaError) {
        let fd = SystemFile.retrying { openat(parent.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw .io(operation: "open directory \(name)", errno: errno) }
        try self.init(adopting: fd, what: name)
    }

    private init(adopting fd: Int32, what: String) throws(MediaError) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { let e = errno; close(fd); throw .io(operation: "fstat \(what)", errno: e) }
        descriptor = fd
        identity = FileIdentity(st)
    }

    deinit { close(descriptor) }

    /// Names (sorted by bytes, for a stable order) with their `fstatat(AT_SYMLINK_NOFOLLOW)` status.
    /// Names that are not UTF-8 go to `problem` and are left out. At most `maxEntries + 1` are
    /// kept, so the caller's entry limit still sees that there were more.
    func list(maxEntries: Int, problem: (String, String) -> Void) throws(MediaError) -> [(name: String, status: stat)] {
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
        var result: [(name: String, status: stat)] = []
        for bytes in names.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            guard let name = String(validating: bytes, as: UTF8.self) else {
                problem(String(decoding: bytes, as: UTF8.self), "name is not valid UTF-8")
                continue
            }
            var st = stat()
            guard fstatat(descriptor, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                // Removed between readdir and fstatat: nothing left to report.
                if errno == ENOENT { continue }
                throw .io(operation: "fstatat \(name)", errno: errno)
            }
            result.append((name, st))
        }
        return result
    }
}
