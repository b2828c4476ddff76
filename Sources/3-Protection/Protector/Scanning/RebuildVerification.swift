import DICOMCore
import SessionReport

/// A signature that matched the whole original file but no single part spans parts (e.g. an `MZ`
/// preamble and a `PE` header hidden in a private value, CVE-2019-11687). The rebuild is then
/// scanned by the engines that saw it: if the signature is gone, the rebuild neutralised it; if
/// not — or the rebuild cannot be checked — the file is rejected.
enum RebuildVerification {
    /// Rebuilds larger than this are not held in memory for a second scan; such files are rejected.
    static let limit: Int64 = 256 << 20

    static func verify(_ hits: [EngineScan.Hit], engines: [any MalwareEngine], sourceSize: Int64,
                       write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) -> (rejected: Bool, findings: [Finding]) {
        guard sourceSize <= limit else {
            return (true, hits.map { Finding(.malware(engine: $0.engine), .critical,
                "\($0.signature) in the whole file, in no single part; the file is too large to verify its rebuild") })
        }
        var rebuilt: [UInt8] = []
        do { try write { rebuilt.append(contentsOf: $0) } } catch {
            return (true, hits.map { Finding(.malware(engine: $0.engine), .critical, "\($0.signature) in the whole file; the rebuild failed: \(error)") })
        }
        var rejected = false
        var findings: [Finding] = []
        for hit in hits {
            guard let engine = engines.first(where: { $0.name == hit.engine }) else { continue }
            let again: [String]
            do { again = try engine.scan(ScanContent(rebuilt, label: "the rebuilt file")) } catch {
                rejected = true
                findings.append(Finding(.malware(engine: hit.engine), .critical, "\(hit.signature) in the whole file; the rebuild could not be rescanned: \(error)"))
                continue
            }
            if again.contains(hit.signature) {
                rejected = true
                findings.append(Finding(.malware(engine: hit.engine), .critical, "\(hit.signature) in the whole file and still in its rebuild"))
            } else {
                findings.append(Finding(.malware(engine: hit.engine), .critical,
                    "\(hit.signature) in the whole original file across parts; gone from the rebuilt file"))
            }
        }
        return (rejected, findings)
    }
}
