import DICOMCore
import DICOMNetwork
import Foundation
import NIOCore
import NIOSSL
import SessionReport

/// A C-STORE destination (`dicom://CALLED_AE@HOST:PORT`, `dicoms://` for TLS).
public struct DICOMPeer: Sendable {
    public var association: AssociationConfiguration
    /// Associations used in parallel: a DCMTK-based PACS answers one association's C-STOREs one
    /// after another, so several associations are how a kiosk keeps it busy.
    public var associations: Int

    public init(association: AssociationConfiguration, associations: Int = 4) {
        self.association = association
        self.associations = max(1, associations)
    }
}

/// Sends instances over several parallel associations. Each association proposes, per SOP class,
/// the instance's own transfer syntax and the uncompressed little endian ones; an instance goes in
/// its own syntax when accepted, converted losslessly when only an uncompressed one is (native data
/// only), and is reported `pacs.unsupported-*` when nothing fits.
public struct DICOMSender: DeliveryTarget {
    public let peer: DICOMPeer
    public let destination: String

    public init(peer: DICOMPeer, destination: String) { self.peer = peer; self.destination = destination }

    static let uncompressed = [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid]

    public func verify() async throws -> String {
        let status = try await echo()
        guard status.kind == .success else { throw AssociationError.protocolError("C-ECHO answered \(status)") }
        return "C-ECHO \(peer.association.callingAE) → \(peer.association.calledAE)@\(peer.association.host):\(peer.association.port): \(status)"
    }

    /// C-ECHO over a fresh association.
    public func echo() async throws -> DIMSEStatus {
        try await Association.open(peer.association, contexts: [ProposedContext(id: 1, abstractSyntax: DIMSE.verificationSOPClass,
                                                                                transferSyntaxes: DICOMSender.uncompressed)]) {
            try await $0.echo()
        }
    }

    /// Sends every instance; `report` is called once per instance, from the association that sent it.
    public func deliver(_ instances: [SpooledInstance], from spool: URL,
                        report: @escaping @Sendable (SpooledInstance, Spool.Result) async -> Void) async {
        // An association carries at most 128 presentation contexts: instances of more SOP classes
        // and syntaxes than that go in groups, each with the contexts it needs.
        for group in DICOMSender.groups(instances) {
            let queue = WorkQueue(group, root: spool)
            let contexts = DICOMSender.contexts(for: group)
            let workers = min(peer.associations, max(1, group.count))
            await withTaskGroup(of: Void.self) { tasks in
                for _ in 0..<workers {
                    tasks.addTask { await self.drain(queue, contexts: contexts, report: report) }
                }
            }
        }
    }

    /// Splits instances so that each group's contexts fit one association (whole SOP classes per group).
    static func groups(_ instances: [SpooledInstance]) -> [[SpooledInstance]] {
        var order: [String] = []
        var byClass: [String: [SpooledInstance]] = [:]
        for instance in instances {
            if byClass[instance.sopClassUID] == nil { order.append(instance.sopClassUID) }
            byClass[instance.sopClassUID, default: []].append(instance)
        }
        var groups: [[SpooledInstance]] = []
        var current: [SpooledInstance] = []
        for sopClass in order {
            let members = byClass[sopClass]!
            let needed = contexts(for: members).count
            if !current.isEmpty && contexts(for: current).count + needed > 128 {
                groups.append(current)
                current = []
            }
            current += members
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }

    /// One association's loop. An association failure puts the instance in hand back as `retry`
    /// and opens a new association, a few times, before leaving the rest to the spool's retries.
    private func drain(_ queue: WorkQueue, contexts: [ProposedContext], report: @escaping @Sendable (SpooledInstance, Spool.Result) async -> Void) async {
        var failures = 0
        var lastError = ""
        while failures < 3, await queue.hasWork {
            do {
                try await Association.open(peer.association, contexts: contexts) { association in
                    while let (instance, path) = await queue.next() {
                        let outcome: Spool.Result
                        do {
                            outcome = try await store(instance, path: path, on: association)
                        } catch let error as AssociationError {
                            await report(instance, .retry(error.description))
                            throw error
                        }
                        await report(instance, outcome)
                    }
                }
                return
            } catch let error as AssociationError where !error.isTransient {
                // Nothing will change on retry (e.g. the called AE title is not known): the rest fails.
                while let (instance, _) = await queue.next() { await report(instance, .retry(error.description)) }
                return
            } catch {
                failures += 1
                lastError = ConnectionFailure.explain(error, peer: "\(peer.association.host):\(peer.association.port)") ?? "\(error)"
            }
        }
        while let (instance, _) = await queue.next() { await report(instance, .retry("3 associations failed in a row, last: \(lastError)")) }
    }

    private func store(_ instance: SpooledInstance, path: URL, on association: Association) async throws -> Spool.Result {
        let source: FileSource
        do { source = try FileSource(path: path.path) } catch {
            return .failed(.deliveryUnreadable, reason: "the spooled file cannot be read: \(error)")
        }
        let syntax = instance.transferSyntaxUID
        if let context = association.context(for: instance.sopClassUID, transferSyntax: syntax),
           let start = Part10.dataSetOffset(source) {
            let response = try await association.store(sopClass: instance.sopClassUID, sopInstance: instance.sopInstanceUID,
                                                       context: context, source: source, offset: start, length: source.count - start)
            return DICOMSender.outcome(response.status, comment: response.errorComment)
        }
        let file: DICOMFile
        do {
            var options = ParsingOptions()
            options.inlineValueLimit = 4096
            file = try DICOMReader.read(source, options: options)
        } catch {
            return .failed(.deliveryUnreadable, reason: "the spooled file cannot be read: \(error)")
        }
        if let context = association.context(for: instance.sopClassUID, transferSyntax: file.transferSyntax.uid) {
            let start = file.dataSet.elements.first?.offset ?? source.count
            let response = try await association.store(sopClass: instance.sopClassUID, sopInstance: instance.sopInstanceUID,
                                                       context: context, source: source, offset: start, length: source.count - start)
            return DICOMSender.outcome(response.status, comment: response.errorComment)
        }
        let accepted = association.acceptedSyntaxes(for: instance.sopClassUID)
        guard !accepted.isEmpty else {
            return .failed(.pacsUnsupportedSOPClass, reason: "the PACS accepts no presentation context for SOP class \(instance.sopClassUID)")
        }
        guard !file.transferSyntax.encapsulated, let target = accepted.first(where: DICOMSender.uncompressed.contains),
              let targetSyntax = TransferSyntax.known(target),
              let context = association.context(for: instance.sopClassUID, transferSyntax: target) else {
            return .failed(.pacsUnsupportedTransferSyntax,
                           reason: "the PACS accepts only \(accepted.joined(separator: ", ")) for this SOP class; \(syntax) is compressed and is never recompressed")
        }
        // Lossless re-encoding into the accepted syntax, data set only.
        var converted: [UInt8] = []
        do {
            var options = WriteOptions(implementationClassUID: peer.association.implementationClassUID,
                                       implementationVersionName: peer.association.implementationVersionName)
            options.transferSyntax = targetSyntax
            converted = try DICOMWriter.data(file, source: source, options: options)
        } catch {
            return .failed(.pacsUnsupportedTransferSyntax, reason: "cannot convert to \(target) losslessly: \(error)")
        }
        let memory = InMemoryByteSource(converted)
        let reread = try? DICOMReader.read(memory, options: ParsingOptions())
        let start = reread?.dataSet.elements.first?.offset ?? memory.count
        let response = try await association.store(sopClass: instance.sopClassUID, sopInstance: instance.sopInstanceUID,
                                                   context: context, source: memory, offset: start, length: memory.count - start)
        return DICOMSender.outcome(response.status, comment: response.errorComment)
    }

    static func outcome(_ status: DIMSEStatus, comment: String?) -> Spool.Result {
        let detail = status.description + (comment.map { " (\($0))" } ?? "")
        switch status.kind {
        case .success: return .stored(detail: nil)
        case .warning, .duplicate: return .stored(detail: "the PACS answered \(detail)")
        case .transientFailure, .pending: return .retry("the PACS answered \(detail)")
        case .permanentFailure: return .failed(.deliveryRefused, reason: "the PACS answered \(detail)")
        }
    }

    /// Per SOP class: one context with each transfer syntax the instances use (alone, so the PACS
    /// can accept it), and one with the uncompressed little endian syntaxes to fall back on.
    static func contexts(for instances: [SpooledInstance]) -> [ProposedContext] {
        var pairs: [(String, [String])] = []
        var seen = Set<String>()
        func add(_ sopClass: String, _ syntaxes: [String]) {
            let key = sopClass + "|" + syntaxes.joined(separator: ",")
            if seen.insert(key).inserted { pairs.append((sopClass, syntaxes)) }
        }
        for instance in instances {
            if !uncompressed.contains(instance.transferSyntaxUID) { add(instance.sopClassUID, [instance.transferSyntaxUID]) }
            add(instance.sopClassUID, uncompressed)
        }
        // Context IDs are odd, 1…255: at most 128 contexts per association.
        return pairs.prefix(128).enumerated().map { index, pair in
            ProposedContext(id: UInt8(index * 2 + 1), abstractSyntax: pair.0, transferSyntaxes: pair.1)
        }
    }
}

/// Instances not yet taken by an association.
actor WorkQueue {
    private var pending: [SpooledInstance]
    private let root: URL

    init(_ instances: [SpooledInstance], root: URL) { pending = instances.reversed(); self.root = root }

    var hasWork: Bool { !pending.isEmpty }

    func next() -> (SpooledInstance, URL)? {
        pending.popLast().map { ($0, root.appendingPathComponent($0.path)) }
    }
}

/// Where a Part 10 file's data set starts, from its meta group length alone (one small read).
/// nil when the meta group does not start with (0002,0000) UL: then the file is parsed.
enum Part10 {
    static func dataSetOffset(_ source: any ByteSource) -> Int64? {
        guard source.count >= 144, let head = try? source.read(at: 128, count: 16), head.count == 16,
              head[0...3] == [0x44, 0x49, 0x43, 0x4D],                     // "DICM"
              head[4...9] == [0x02, 0x00, 0x00, 0x00, 0x55, 0x4C],         // (0002,0000) UL
              head[10] == 4, head[11] == 0 else { return nil }
        let length = Int64(head[12]) | Int64(head[13]) << 8 | Int64(head[14]) << 16 | Int64(head[15]) << 24
        let start = 144 + length
        return start <= source.count ? start : nil
    }
}
