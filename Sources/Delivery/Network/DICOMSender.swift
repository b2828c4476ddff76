import DICOMCore
import DICOMNetwork
import Foundation
import NIOCore
import NIOSSL

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

/// One rebuilt Part 10 file to send.
public struct OutgoingInstance: Sendable, Hashable {
    public let sopInstanceUID: String
    public let sopClassUID: String
    public let transferSyntaxUID: String
    public let path: String

    public init(sopInstanceUID: String, sopClassUID: String, transferSyntaxUID: String, path: String) {
        self.sopInstanceUID = sopInstanceUID; self.sopClassUID = sopClassUID
        self.transferSyntaxUID = transferSyntaxUID; self.path = path
    }
}

/// What happened to one instance.
public enum SendOutcome: Sendable, Equatable {
    /// The PACS has it (success, warning, or it already held that SOP Instance).
    case stored(DIMSEStatus)
    /// Try again later: network, association or a transient DIMSE failure.
    case retry(String)
    /// Retrying will not help: a permanent DIMSE failure, or no presentation context fits.
    case failed(code: String, reason: String)
}

/// Sends instances over several parallel associations. Each association proposes, per SOP class,
/// the instance's own transfer syntax and the uncompressed little endian ones; an instance goes in
/// its own syntax when accepted, converted losslessly when only an uncompressed one is (native data
/// only), and is reported `pacs.unsupported-*` when nothing fits.
public struct DICOMSender: Sendable {
    public let peer: DICOMPeer

    public init(peer: DICOMPeer) { self.peer = peer }

    static let uncompressed = [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid]

    /// C-ECHO over a fresh association.
    public func echo() async throws -> DIMSEStatus {
        try await Association.open(peer.association, contexts: [ProposedContext(id: 1, abstractSyntax: DIMSE.verificationSOPClass,
                                                                                transferSyntaxes: DICOMSender.uncompressed)]) {
            try await $0.echo()
        }
    }

    /// Sends every instance; `report` is called once per instance, from the association that sent it.
    public func send(_ instances: [OutgoingInstance], report: @escaping @Sendable (OutgoingInstance, SendOutcome) async -> Void) async {
        let queue = WorkQueue(instances)
        let contexts = DICOMSender.contexts(for: instances)
        let workers = min(peer.associations, max(1, instances.count))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<workers {
                group.addTask { await self.drain(queue, contexts: contexts, report: report) }
            }
        }
    }

    /// One association's loop. An association failure puts the instance in hand back as `retry`
    /// and opens a new association, a few times, before leaving the rest to the spool's retries.
    private func drain(_ queue: WorkQueue, contexts: [ProposedContext], report: @escaping @Sendable (OutgoingInstance, SendOutcome) async -> Void) async {
        var failures = 0
        while failures < 3, await queue.hasWork {
            do {
                try await Association.open(peer.association, contexts: contexts) { association in
                    while let instance = await queue.next() {
                        let outcome: SendOutcome
                        do {
                            outcome = try await store(instance, on: association)
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
                while let instance = await queue.next() { await report(instance, .retry(error.description)) }
                return
            } catch {
                failures += 1
            }
        }
        while let instance = await queue.next() { await report(instance, .retry("the PACS could not be reached after 3 attempts")) }
    }

    private func store(_ instance: OutgoingInstance, on association: Association) async throws -> SendOutcome {
        let source: FileSource
        let file: DICOMFile
        do {
            source = try FileSource(path: instance.path)
            var options = ParsingOptions()
            options.inlineValueLimit = 4096
            file = try DICOMReader.read(source, options: options)
        } catch {
            return .failed(code: "delivery.unreadable", reason: "the spooled file cannot be read: \(error)")
        }
        let syntax = file.transferSyntax.uid
        if let context = association.context(for: instance.sopClassUID, transferSyntax: syntax) {
            let start = file.dataSet.elements.first?.offset ?? source.count
            let response = try await association.store(sopClass: instance.sopClassUID, sopInstance: instance.sopInstanceUID,
                                                       context: context, source: source, offset: start, length: source.count - start)
            return DICOMSender.outcome(response.status, comment: response.errorComment)
        }
        let accepted = association.acceptedSyntaxes(for: instance.sopClassUID)
        guard !accepted.isEmpty else {
            return .failed(code: "pacs.unsupported-sop-class", reason: "the PACS accepts no presentation context for SOP class \(instance.sopClassUID)")
        }
        guard !file.transferSyntax.encapsulated, let target = accepted.first(where: DICOMSender.uncompressed.contains),
              let targetSyntax = TransferSyntax.known(target),
              let context = association.context(for: instance.sopClassUID, transferSyntax: target) else {
            return .failed(code: "pacs.unsupported-transfer-syntax",
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
            return .failed(code: "pacs.unsupported-transfer-syntax", reason: "cannot convert to \(target) losslessly: \(error)")
        }
        let memory = InMemoryByteSource(converted)
        let reread = try? DICOMReader.read(memory, options: ParsingOptions())
        let start = reread?.dataSet.elements.first?.offset ?? memory.count
        let response = try await association.store(sopClass: instance.sopClassUID, sopInstance: instance.sopInstanceUID,
                                                   context: context, source: memory, offset: start, length: memory.count - start)
        return DICOMSender.outcome(response.status, comment: response.errorComment)
    }

    static func outcome(_ status: DIMSEStatus, comment: String?) -> SendOutcome {
        let detail = status.description + (comment.map { " (\($0))" } ?? "")
        switch status.kind {
        case .success, .warning, .duplicate: return .stored(status)
        case .transientFailure, .pending: return .retry("the PACS answered \(detail)")
        case .permanentFailure: return .failed(code: "delivery.refused", reason: "the PACS answered \(detail)")
        }
    }

    /// Per SOP class: one context with each transfer syntax the instances use (alone, so the PACS
    /// can accept it), and one with the uncompressed little endian syntaxes to fall back on.
    static func contexts(for instances: [OutgoingInstance]) -> [ProposedContext] {
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
    private var pending: [OutgoingInstance]

    init(_ instances: [OutgoingInstance]) { pending = instances.reversed() }

    var hasWork: Bool { !pending.isEmpty }

    func next() -> OutgoingInstance? { pending.popLast() }
}
