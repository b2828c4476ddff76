import DICOMCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// Where and how to associate.
public struct AssociationConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var calledAE: String
    public var callingAE: String
    /// DICOM TLS (PS3.15 BCP 195); nil = plain TCP.
    public var tls: TLSConfiguration?
    public var connectTimeout: TimeAmount = .seconds(10)
    /// ARTIM: how long an A-ASSOCIATE or A-RELEASE answer may take.
    public var artimTimeout: TimeAmount = .seconds(30)
    /// How long a DIMSE response may take.
    public var dimseTimeout: TimeAmount = .seconds(120)
    /// The largest P-DATA PDU we accept (advertised in User Information).
    public var maxPDULength: UInt32 = 1 << 20
    /// The largest P-DATA PDU we send, whatever the peer allows (0 from the peer = unlimited).
    public var sendPDULength: UInt32 = 1 << 20
    public var implementationClassUID: String
    public var implementationVersionName: String

    /// "host:port", as the failure sentences name the peer.
    var peer: String { "\(host):\(port)" }

    public init(host: String, port: Int, calledAE: String, callingAE: String, implementationClassUID: String,
                implementationVersionName: String) {
        self.host = host; self.port = port; self.calledAE = calledAE; self.callingAE = callingAE
        self.implementationClassUID = implementationClassUID; self.implementationVersionName = implementationVersionName
    }
}

public enum AssociationError: Error, Equatable, CustomStringConvertible {
    case connect(String)
    case rejected(AssociateReject)
    case aborted(source: UInt8, reason: UInt8)
    case timeout(String)
    case protocolError(String)
    case closed(String)
    /// The TLS handshake failed: certificate not trusted, name mismatch, no common protocol.
    case tls(String)

    /// Worth trying again later (the PACS may be restarting or busy).
    public var isTransient: Bool {
        switch self {
        case .connect, .timeout, .closed, .aborted: true
        case let .rejected(reject): !reject.isPermanent
        case .protocolError, .tls: false
        }
    }

    public var description: String {
        switch self {
        case let .connect(why): "cannot connect: \(why)"
        case let .rejected(reject): "association \(reject.description)"
        case let .aborted(source, reason): "association aborted by the \(source == 2 ? "provider" : "peer") (reason \(reason))"
        case let .timeout(what): "no answer in time: \(what)"
        case let .protocolError(what): "protocol error: \(what)"
        case let .closed(what): "connection closed \(what)"
        case let .tls(what): "TLS handshake failed: \(what)"
        }
    }
}

/// One established association (requestor side), used inside `Association.open`'s body: C-ECHO
/// and C-STORE one message at a time; released when the body returns, aborted when it throws.
public final class Association {
    public let accepted: [AcceptedContext]
    public let proposed: [ProposedContext]
    /// Largest P-DATA PDU the peer accepts (0 = no limit).
    public let peerMaxPDULength: UInt32
    private let configuration: AssociationConfiguration
    private let channel: any Channel
    private var inbound: NIOAsyncChannelInboundStream<PDU>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<PDU>
    private var machine: UpperLayerStateMachine
    private var messageID: UInt16 = 0

    private init(configuration: AssociationConfiguration, channel: any Channel, inbound: NIOAsyncChannelInboundStream<PDU>.AsyncIterator,
                 outbound: NIOAsyncChannelOutboundWriter<PDU>, machine: UpperLayerStateMachine, proposed: [ProposedContext],
                 accept: AssociateAccept) {
        self.configuration = configuration; self.channel = channel; self.inbound = inbound; self.outbound = outbound
        self.machine = machine; self.proposed = proposed; accepted = accept.contexts
        peerMaxPDULength = accept.user.maxPDULength
    }

    /// Connects, negotiates `contexts`, runs `body`, then releases. Throws `AssociationError` for
    /// everything the network or the peer does wrong.
    public static func open<T>(_ configuration: AssociationConfiguration, contexts: [ProposedContext],
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                               _ body: (Association) async throws -> T) async throws -> T {
        var machine = UpperLayerStateMachine()
        try machine.handle(.associateRequested)
        let tls = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
        let peer = configuration.peer
        let tlsFailure = NIOLockedValueBox<TLSFailure?>(nil)
        let asyncChannel: NIOAsyncChannel<PDU, PDU>
        do {
            asyncChannel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(configuration.connectTimeout)
                .connect(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            // An IP literal is checked against the certificate's IP addresses, a name against its DNS names.
                            let hostname = (try? SocketAddress(ipAddress: configuration.host, port: 0)) == nil ? configuration.host : nil
                            let handler = try NIOSSLClientHandler(context: tls, serverHostname: hostname)
                            try channel.pipeline.syncOperations.addHandler(handler)
                            try channel.pipeline.syncOperations.addHandler(TLSFailureRecorder(tls: handler, failure: tlsFailure))
                        }
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PDUFrameDecoder(maxLength: max(configuration.maxPDULength, 1 << 16) + 64)))
                        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(PDUEncoder()))
                        return try NIOAsyncChannel<PDU, PDU>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw AssociationError.connect(ConnectionFailure.explain(error, peer: peer) ?? "\(peer): \(error)")
        }
        try machine.handle(.transportConnected)
        do {
            return try await associate(configuration, asyncChannel, machine: machine, contexts: contexts, body)
        } catch {
            // A failed TLS handshake shows up as whatever the pending write or read met ("I/O on
            // closed channel"): the handshake's own error says why.
            if let failure = tlsFailure.withLockedValue({ $0 }),
               failure.error is NIOSSLError || failure.error is NIOSSLExtraError || failure.error is BoringSSLError {
                throw AssociationError.tls(failure.explain(peer: peer) ?? "\(failure.error)")
            }
            if error is AssociationError { throw error }
            if let why = ConnectionFailure.explain(error, peer: peer) { throw AssociationError.closed("(\(why))") }
            throw error
        }
    }

    private static func associate<T>(_ configuration: AssociationConfiguration, _ asyncChannel: NIOAsyncChannel<PDU, PDU>,
                                     machine: UpperLayerStateMachine, contexts: [ProposedContext],
                                     _ body: (Association) async throws -> T) async throws -> T {
        var machine = machine
        let channel = asyncChannel.channel
        return try await asyncChannel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            let request = AssociateRequest(calledAE: configuration.calledAE, callingAE: configuration.callingAE, contexts: contexts,
                                           user: UserInformation(maxPDULength: configuration.maxPDULength,
                                                                 implementationClassUID: configuration.implementationClassUID,
                                                                 implementationVersionName: configuration.implementationVersionName,
                                                                 asyncOperations: (1, 1)))
            try await outbound.write(.associateRequest(request))
            let answer = try await Deadline.next(&iterator, channel: channel, after: configuration.artimTimeout, what: "A-ASSOCIATE response",
                                                 peer: configuration.peer)
            switch answer {
            case let .associateAccept(accept):
                try machine.handle(.associateAccepted)
                let association = Association(configuration: configuration, channel: channel, inbound: iterator, outbound: outbound,
                                              machine: machine, proposed: contexts, accept: accept)
                do {
                    let result = try await body(association)
                    try await association.release()
                    return result
                } catch {
                    association.abort()
                    throw error
                }
            case let .associateReject(reject):
                throw AssociationError.rejected(reject)
            case let .abort(source, reason):
                throw AssociationError.aborted(source: source, reason: reason)
            default:
                try? await outbound.write(.abort(source: 0, reason: 2))
                throw AssociationError.protocolError("\(answer.type) instead of A-ASSOCIATE-AC/RJ")
            }
        }
    }

    /// The accepted context for a SOP class in a transfer syntax, if any.
    public func context(for sopClass: String, transferSyntax: String) -> AcceptedContext? {
        accepted.first { context in
            context.isAccepted && context.transferSyntax == transferSyntax
                && proposed.contains { $0.id == context.id && $0.abstractSyntax == sopClass }
        }
    }

    /// The transfer syntaxes the peer accepted for a SOP class, in the order we proposed them.
    public func acceptedSyntaxes(for sopClass: String) -> [String] {
        proposed.filter { $0.abstractSyntax == sopClass }.compactMap { proposal in
            accepted.first { $0.id == proposal.id && $0.isAccepted }?.transferSyntax
        }
    }

    private func nextMessageID() -> UInt16 {
        messageID = messageID == UInt16.max ? 1 : messageID + 1
        return messageID
    }

    /// C-ECHO: the peer answers (DIMSE status) or the association fails.
    public func echo() async throws -> DIMSEStatus {
        guard let context = accepted.first(where: { accepted in
            accepted.isAccepted && proposed.contains { $0.id == accepted.id && $0.abstractSyntax == DIMSE.verificationSOPClass }
        }) else { throw AssociationError.protocolError("the peer did not accept the Verification SOP class") }
        let id = nextMessageID()
        try await send(command: DIMSE.echoRequest(messageID: id), context: context.id)
        return try await response(to: id).status
    }

    /// C-STORE of one data set, already encoded in the context's transfer syntax: `length` bytes of
    /// `source` from `offset` (for a Part 10 file, what follows its meta group), sent in PDUs of the
    /// size both sides allow, read piece by piece.
    public func store(sopClass: String, sopInstance: String, context: AcceptedContext,
                      source: any ByteSource, offset: Int64, length: Int64) async throws -> DIMSE.Response {
        let id = nextMessageID()
        try await send(command: DIMSE.storeRequest(messageID: id, sopClass: sopClass, sopInstance: sopInstance), context: context.id)
        let limit = peerMaxPDULength == 0 ? configuration.sendPDULength : min(peerMaxPDULength, configuration.sendPDULength)
        let piece = Int64(max(limit, 64) - 6)    // a PDV's header: 4-byte length, context ID, control byte
        var done: Int64 = 0
        repeat {
            let count = min(piece, length - done)
            var data = ByteBuffer()
            data.writeBytes(try source.read(at: offset + done, count: Int(count)))
            done += count
            try machine.handle(.dataSent)
            try await outbound.write(.data([PDV(contextID: context.id, isCommand: false, isLast: done >= length, data: data)]))
        } while done < length
        return try await response(to: id)
    }

    private func send(command: ByteBuffer, context: UInt8) async throws {
        try machine.handle(.dataSent)
        try await outbound.write(.data([PDV(contextID: context, isCommand: true, isLast: true, data: command)]))
    }

    /// Reads PDUs until a whole command set arrives, within the DIMSE timeout.
    private func response(to messageID: UInt16) async throws -> DIMSE.Response {
        var command = ByteBuffer()
        while true {
            let pdu = try await Deadline.next(&inbound, channel: channel, after: configuration.dimseTimeout, what: "DIMSE response",
                                                 peer: configuration.peer)
            switch pdu {
            case let .data(pdvs):
                try machine.handle(.dataReceived)
                for pdv in pdvs where pdv.isCommand {
                    var data = pdv.data
                    guard command.readableBytes + data.readableBytes <= 1 << 16 else {
                        throw AssociationError.protocolError("a response command set over 64 KiB")
                    }
                    command.writeBuffer(&data)
                    if pdv.isLast {
                        let response = try DIMSE.parse(command)
                        guard response.messageIDBeingRespondedTo == messageID || response.messageIDBeingRespondedTo == 0 else {
                            throw AssociationError.protocolError("response to message \(response.messageIDBeingRespondedTo), expected \(messageID)")
                        }
                        if response.status.kind == .pending { command.clear(); continue }
                        return response
                    }
                }
            case let .abort(source, reason):
                try? machine.handle(.abortReceived)
                throw AssociationError.aborted(source: source, reason: reason)
            case .releaseRequest:
                try? machine.handle(.releaseReceived)
                try? await outbound.write(.releaseResponse)
                throw AssociationError.closed("by the peer's release before it answered")
            default:
                throw AssociationError.protocolError("unexpected PDU type \(pdu.type) while waiting for a response")
            }
        }
    }

    /// A-RELEASE-RQ, then wait for A-RELEASE-RP within ARTIM.
    func release() async throws {
        try machine.handle(.releaseRequested)
        try await outbound.write(.releaseRequest)
        while true {
            let pdu = try await Deadline.next(&inbound, channel: channel, after: configuration.artimTimeout, what: "A-RELEASE-RP",
                                                 peer: configuration.peer)
            if case .releaseResponse = pdu { try machine.handle(.releaseResponseReceived); return }
            if case let .abort(source, reason) = pdu { throw AssociationError.aborted(source: source, reason: reason) }
        }
    }

    /// A-ABORT, then close (AA-1).
    func abort() {
        try? machine.handle(.abortRequested)
        // A PDU, not bytes: the pipeline's encoder takes PDUs (and closes the channel after).
        channel.writeAndFlush(PDU.abort(source: 0, reason: 0)).whenComplete { [channel] _ in channel.close(promise: nil) }
    }
}

/// Waits for the next PDU, closing the connection when `after` passes first (ARTIM or DIMSE timer).
enum Deadline {
    static func next(_ iterator: inout NIOAsyncChannelInboundStream<PDU>.AsyncIterator, channel: any Channel,
                     after timeout: TimeAmount, what: String, peer: String) async throws -> PDU {
        let fired = NIOLockedValueBox(false)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            fired.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            guard let pdu = try await iterator.next() else {
                throw fired.withLockedValue { $0 } ? AssociationError.timeout("\(what) from \(peer)")
                    : AssociationError.closed("by \(peer) while waiting for \(what)")
            }
            return pdu
        } catch let error as AssociationError {
            throw error
        } catch let error as PDUError {
            throw AssociationError.protocolError("\(error)")
        } catch let error as NIOSSLError {
            throw AssociationError.tls(ConnectionFailure.explain(error, peer: peer) ?? "\(error)")
        } catch let error as NIOSSLExtraError {
            throw AssociationError.tls(ConnectionFailure.explain(error, peer: peer) ?? "\(error)")
        } catch {
            if fired.withLockedValue({ $0 }) { throw AssociationError.timeout("\(what) from \(peer)") }
            throw AssociationError.closed("while waiting for \(what) (\(ConnectionFailure.explain(error, peer: peer) ?? "\(error)"))")
        }
    }
}
