#if canImport(Glibc)
import Glibc
#endif

/// One regular file as a volume of one entry: what `inspect` hands the media helper for a file
/// argument. The helper gets that file's descriptor only, so it can neither reach the file's
/// siblings nor mistake a file for a disc image and probe it.
public final class SingleFileVolume: Volume {
    public let filesystem = FilesystemType.file
    public let label: String
    private let file: SystemFile
    private let entry: MediaEntry
    private let renamed: MediaError?

    /// `path` names the file (its last component is the entry's name); nothing is opened by it.
    public init(duplicating fd: Int32, path: String) throws(MediaError) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(operation: "fstat \(path)", errno: errno) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .unsupported("\(path) is not a regular file") }
        file = try SystemFile(duplicating: fd, path: path)
        let name = path.split(separator: "/").last.map(String.init) ?? "file"
        var siblings = SiblingNames(names: [name])
        let named = siblings.child(of: .root, named: name)
        entry = MediaEntry(path: named.path, kind: .file, size: file.size, locator: .init(start: 0))
        renamed = named.renamed
        label = named.path.name
    }

    public func walk(limits: WalkLimits, visit: (MediaEntry) -> Void, problem: (MediaProblem) -> Void) {
        if let renamed { problem(MediaProblem(path: entry.path, error: renamed)) }
        var budget = WalkBudget(limits)
        if let error = budget.admit(entry.path, kind: .file, size: entry.size) {
            problem(MediaProblem(path: entry.path, error: error))
            return
        }
        visit(entry)
    }

    public func open(_ entry: MediaEntry) throws(MediaError) -> any MediaFile {
        guard entry == self.entry else { throw .unsupported("\(entry.path) is not the file being read") }
        return try ExtentFile(entry: self.entry, image: SystemFile(duplicating: file.descriptor, path: file.path), base: 0, isMedium: true)
    }
}
