import Crypto
import DICOMCore
import SessionReport

/// What the Protector decided about one DICOM file, and the model it will write.
public struct Protection: Sendable {
    public var verdict: Verdict
    public var findings: [Finding]
    /// The instance as delivered (after reconciliation), for the archive and the report.
    public var summary: InstanceSummary?
    /// The instance as the media had it, for the identity check; nil when unreadable.
    public var mediaSummary: InstanceSummary?
    /// The file as it will be rebuilt; nil when rejected.
    public var rebuilt: DICOMFile?
    /// A DICOMDIR (Media Storage Directory Storage): indexes the media, never delivered.
    public var isDirectory: Bool
    /// The per-part verdict map.
    public var parts: [PartRecord] = []
    /// Set when the destination needs another (lossless) transfer syntax than the file's.
    public var targetTransferSyntax: TransferSyntax?
}

/// Takes one DICOM file apart, inspects and scans every part, and rebuilds a new Part 10 file from
/// the parts that passed (ARCHITECTURE.md §1, issue 3): zero preamble, rebuilt meta group,
/// explicit-length sequences, nothing after the data set, private blocks and optional content by
/// policy. Whatever stays is carried over bit-identical.
public struct Protector: Sendable {
    public let policy: ProtectorPolicy
    public let engines: [any MalwareEngine]

    public init(policy: ProtectorPolicy, engines: [any MalwareEngine] = []) {
        self.policy = policy
        self.engines = engines
    }

    static let directoryStorage = "1.2.840.10008.1.3.10"

    public func protect(_ source: any ByteSource) -> Protection {
        let file: DICOMFile
        do {
            file = try DICOMReader.read(source, options: policy.parsing)
        } catch {
            return Protection(verdict: .rejected, findings: [StructureFindings.finding(for: error)],
                              summary: nil, mediaSummary: nil, rebuilt: nil, isDirectory: false)
        }
        let summary = InstanceSummary(file)
        let isDirectory = summary.sopClassUID == Protector.directoryStorage
        let reader = ValueReader(source)
        // Bytes after a frame's codestream become parts of their own, scanned before they are cut.
        let separated = CodestreamEnd.separate(file, Disassembler.parts(of: file), reader: reader)
        let parts = separated.parts

        var observations = file.issues.map { Observation(StructureFindings.finding(for: $0)) }
        observations += outerParts(file, parts)
        // A DICOMDIR only indexes the media; it is read, never delivered or rebuilt.
        if isDirectory {
            return Protection(verdict: .clean, findings: observations.map(\.finding), summary: summary, mediaSummary: summary,
                              rebuilt: file, isDirectory: true)
        }
        // Missing or unusable UIDs are repaired after the rebuild (`missingUIDs`), or reject the file.
        let strictUIDs = policy.compatibility?.strictUIDs ?? false
        observations += uidObservations(summary, strict: strictUIDs)
        observations += StructureCheck.observations(file, accepted: policy.acceptedTransferSyntaxes)
        let plan = PolicyRemovals.plan(file, policy: policy)
        observations += plan.observations
        observations += separated.observations
        observations += PartInspector(activeDocuments: policy.activeDocuments).inspect(file, parts: parts, reader: reader)
        let scan = EngineScan(engines: engines).run(parts: parts, source: source)
        observations += EngineFindings.observations(scan, parts: parts)
        let compatibility = policy.compatibility.map { CompatibilityCheck.check(summary, file.transferSyntax, $0) }
        observations += compatibility?.observations ?? []

        var reconstruction = Reconstruction(file: file, parts: parts, observations: observations,
                                            silentRemovals: plan.silentRemovals, engines: engines.map(\.name))
        reconstruction.apply()
        let verdict: Verdict = reconstruction.rejected ? .rejected : reconstruction.leftOut ? .discarded
            : reconstruction.neutralised ? .disarmed : .clean
        var protection = Protection(verdict: verdict, findings: reconstruction.findings, summary: summary, mediaSummary: summary,
                                    rebuilt: verdict == .rejected || verdict == .discarded ? nil : reconstruction.rebuilt, isDirectory: false,
                                    parts: reconstruction.partRecords, targetTransferSyntax: compatibility?.target)
        let repairUIDs = policy.missingUIDs == .repair && UIDRepair.needed(summary, strict: strictUIDs)
        if repairUIDs || policy.reconciliation != nil, var rebuilt = protection.rebuilt {
            if repairUIDs {
                let seed = Protector.seed(source)
                protection.findings += UIDRepair.apply(to: &rebuilt.dataSet, seed: seed, strict: strictUIDs,
                                                       system: policy.reconciliation?.modifyingSystem ?? Protector.modifyingSystem)
            }
            do {
                if let reconciliation = policy.reconciliation { protection.findings += try reconciliation.apply(to: &rebuilt.dataSet) }
                protection.rebuilt = rebuilt
                protection.summary = InstanceSummary(rebuilt)
            } catch {
                protection.findings.append(Finding(.reconciliationUnencodable, .high, "\(error); not delivered under foreign identifiers"))
                protection.verdict = .rejected
                protection.rebuilt = nil
            }
        }
        if let target = compatibility?.target { protection.summary?.transferSyntaxUID = target.uid }
        let spanning = scan.hits.filter(\.parts.isEmpty)
        guard !spanning.isEmpty else { return protection }
        if protection.rebuilt == nil {
            protection.findings += spanning.map { Finding(.malware(engine: $0.engine), .critical, "\($0.signature) in the whole file, in no single part") }
            return protection
        }
        let check = RebuildVerification.verify(spanning, engines: engines, sourceSize: source.count) { sink in
            try write(protection, source: source, to: sink)
        }
        protection.findings += check.findings
        if check.rejected {
            protection.verdict = .rejected
            protection.rebuilt = nil
        } else {
            protection.verdict = .disarmed
        }
        return protection
    }

    /// The preamble (THREATS.md 1) and the bytes after the data set (THREATS.md 2): the rebuild
    /// never writes either, so they are reported and replaced.
    private func outerParts(_ file: DICOMFile, _ parts: [Part]) -> [Observation] {
        var observations: [Observation] = []
        if let index = parts.firstIndex(where: { $0.kind == .preamble }), let preamble = file.preamble,
           let finding = PreambleCheck.inspect(preamble, allowTIFF: policy.allowTIFFPreamble) {
            observations.append(Observation(finding, part: index, remedy: .replacedByRebuild))
        }
        if let index = parts.firstIndex(where: { $0.kind == .trailing && $0.path == nil }) {
            observations.append(Observation(Finding(.structureTrailingData, .high,
                "\(parts[index].bytes.length) byte(s) after the end of the data set were removed"), part: index, remedy: .replacedByRebuild))
        }
        return observations
    }

    /// Names a file without a SOP Instance UID: its size and the hash of its first 64 KiB.
    static func seed(_ source: any ByteSource) -> String {
        let head = (try? source.read(at: 0, count: Int(min(source.count, 1 << 16)))) ?? []
        return "\(source.count)|" + SHA256.hash(data: head).map { String($0, radix: 16) }.joined(separator: ":")
    }

    /// Written into Modifying System (0400,0563) when no reconciliation names the system.
    static let modifyingSystem = "kiosk-agent"

    /// A zero-led component (`1.2.03.4`) breaks PS3.5 §9.1 but harms nothing downstream: kept,
    /// with a low finding, unless the destination refuses such UIDs. UIDs that are missing or
    /// cannot be encoded are repaired after the rebuild, or reject the file when so configured.
    private func uidObservations(_ summary: InstanceSummary, strict: Bool) -> [Observation] {
        [("SOP Instance UID", summary.sopInstanceUID, Tag.sopInstanceUID), ("Study Instance UID", summary.studyInstanceUID, Tag.studyInstanceUID),
         ("Series Instance UID", summary.seriesInstanceUID, Tag.seriesInstanceUID)].compactMap { name, uid, tag in
            switch UIDRepair.need(uid, strict: strict) {
            case .none:
                return nil
            case .keep:
                return Observation(Finding(.structureUIDFormat, .low,
                    "\(name) \(uid) has a component with a leading zero (PS3.5 §9.1); kept unchanged", element: tag.description))
            case .replace:
                guard policy.missingUIDs == .reject else { return nil }
                return Observation(Finding(.structureInvalidUID, .high,
                    uid.isEmpty ? "\(name) is missing" : "\(name) is not a valid UID", element: tag.description), remedy: .reject)
            }
        }
    }

    /// Streams the rebuilt file to `sink`. Deferred (large) values are copied from `source`.
    public func write(_ protection: Protection, source: any ByteSource,
                      to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let rebuilt = protection.rebuilt else { return }
        var options = WriteOptions(implementationClassUID: policy.implementationClassUID,
                                   implementationVersionName: policy.implementationVersionName)
        options.transferSyntax = protection.targetTransferSyntax
        try DICOMWriter.write(rebuilt, source: source, to: sink, options: options)
    }
}
