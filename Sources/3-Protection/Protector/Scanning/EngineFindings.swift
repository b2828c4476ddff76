import SessionReport

/// Engine results as findings (ARCHITECTURE.md §3.3: `malware.clamav`, `malware.clamd`,
/// `malware.icap`, the detail naming the signature and the part). A match in a part removes
/// that part if the file stays valid without it; an engine that gave no answer rejects the file:
/// it is not known to be clean (fail closed). A match only in the whole file (a signature spanning
/// parts) is left to `RebuildVerification`.
enum EngineFindings {
    static func observations(_ scan: EngineScan.Result, parts: [Part]) -> [Observation] {
        var observations: [Observation] = []
        for hit in scan.hits {
            for index in hit.parts {
                observations.append(Observation(Finding(.malware(engine: hit.engine), .critical, "\(hit.signature) in \(parts[index].location)",
                                                        element: parts[index].path?.description), part: index, remedy: .removePart))
            }
        }
        for failure in scan.failures {
            observations.append(Observation(Finding(.malwareEngineFailure, .high,
                "\(failure.engine) gave no verdict (\(failure.reason)); the file is not known to be clean"), remedy: .reject))
        }
        return observations
    }
}
