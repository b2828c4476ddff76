import DICOMCore
import MediaReader
import SessionReport

/// Compares what the DICOMDIR says is on the media with what a walk of the media found
/// (THREATS.md 11, 12). The walk is what gets imported; the DICOMDIR only explains differences.
public struct FileSetCheck: Sendable {
    /// Media-level `dicomdir.*` findings: traversal attempts, loops, missing files.
    public private(set) var findings: [Finding] = []
    /// DICOM files (upper-cased path) that no DICOMDIR lists.
    public private(set) var unlisted: Set<String> = []

    /// - Parameters:
    ///   - directories: each DICOMDIR read, with where it lies on the media.
    ///   - dicomPaths: upper-cased paths of the files classified as DICOM.
    public init(directories: [(path: MediaPath, directory: DICOMDirectory)], inventory: MediaInventory,
                dicomPaths: Set<String>) {
        guard !directories.isEmpty else {
            if !dicomPaths.isEmpty {
                findings.append(Finding(.dicomdirAbsent, .info, "the media has no readable DICOMDIR; all DICOM files were found by walking it"))
            }
            return
        }
        let files = inventory.index()
        var listed = Set<String>()
        for (location, directory) in directories {
            for issue in directory.issues {
                findings.append(Finding(issue.isLoop ? .dicomdirLoop : .dicomdirBadOffset, .medium,
                                        "\(location): \(issue)"))
            }
            var missing: [String] = []
            var traversals = 0
            for record in directory.records {
                guard let components = record.referencedFileID, !components.isEmpty else { continue }
                let path: MediaPath
                do {
                    path = try MediaPath(validating: components.joined(separator: "/"))
                } catch {
                    traversals += 1
                    if traversals <= FileSetCheck.detailLimit {
                        findings.append(Finding(.dicomdirPathTraversal, .high,
                            "\(location) references a file outside the media root (\(error)); ignored"))
                    }
                    continue
                }
                var resolved = location.parent
                for component in path.components {
                    // Validated above; appending cannot fail here.
                    resolved = (try? resolved.appending(component)) ?? resolved
                }
                let key = resolved.caseInsensitiveKey
                if files[key] == nil {
                    missing.append(resolved.description)
                } else {
                    listed.insert(key)
                }
            }
            if traversals > FileSetCheck.detailLimit {
                findings.append(Finding(.dicomdirPathTraversal, .high,
                    "\(location): \(traversals - FileSetCheck.detailLimit) more references outside the media root"))
            }
            for path in missing.prefix(FileSetCheck.detailLimit) {
                findings.append(Finding(.dicomdirMissingFile, .low, "\(location) lists \(path), which is not on the media"))
            }
            if missing.count > FileSetCheck.detailLimit {
                findings.append(Finding(.dicomdirMissingFile, .low,
                    "\(location) lists \(missing.count - FileSetCheck.detailLimit) more files that are not on the media"))
            }
        }
        // A file imported under a stand-in for a hostile name cannot be listed by any DICOMDIR
        // (its name is no valid Referenced File ID); its `media.path-traversal` finding says why.
        let renamed = inventory.files.filter(\.path.isRenamed).map(\.path.caseInsensitiveKey)
        unlisted = dicomPaths.subtracting(listed).subtracting(renamed)
    }

    /// Hostile DICOMDIRs can list millions of bogus paths: the report names the first few.
    static let detailLimit = 20
}
