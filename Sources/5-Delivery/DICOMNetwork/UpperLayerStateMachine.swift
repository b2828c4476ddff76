/// The association-requestor side of the PS3.8 §9.2 state machine, as a table: which events each
/// state accepts and where they lead. Anything not in the table is a protocol error, answered by
/// A-ABORT (AA-8) — a peer cannot steer the association into an undefined state.
public struct UpperLayerStateMachine: Sendable {
    public enum State: String, Sendable {
        /// Sta1: no association.
        case idle
        /// Sta4: waiting for the transport connection.
        case awaitingTransport
        /// Sta5: A-ASSOCIATE-RQ sent, waiting for AC or RJ.
        case awaitingAssociateResponse
        /// Sta6: established, ready for data.
        case established
        /// Sta7: A-RELEASE-RQ sent, waiting for RP.
        case awaitingReleaseResponse
        /// Sta13: waiting for the transport to close.
        case awaitingClose
    }

    public enum Event: String, Sendable {
        case associateRequested, transportConnected, associateAccepted, associateRejected
        case dataSent, dataReceived, releaseRequested, releaseReceived, releaseResponseReceived
        case abortReceived, abortRequested, transportClosed, timerExpired, invalidPDU
    }

    public private(set) var state = State.idle

    public init() {}

    /// PS3.8 Table 9-10, the requestor's rows (AE-1…AE-4, DT-1/2, AR-1/3, AA-1/3/4/8).
    static let table: [State: [Event: State]] = [
        .idle: [.associateRequested: .awaitingTransport],
        .awaitingTransport: [.transportConnected: .awaitingAssociateResponse, .transportClosed: .idle, .timerExpired: .idle,
                             .abortRequested: .idle],
        .awaitingAssociateResponse: [.associateAccepted: .established, .associateRejected: .awaitingClose,
                                     .abortReceived: .idle, .abortRequested: .awaitingClose, .transportClosed: .idle,
                                     .timerExpired: .awaitingClose],
        .established: [.dataSent: .established, .dataReceived: .established, .releaseRequested: .awaitingReleaseResponse,
                       .abortReceived: .idle, .abortRequested: .awaitingClose, .transportClosed: .idle,
                       .releaseReceived: .awaitingClose],
        .awaitingReleaseResponse: [.releaseResponseReceived: .awaitingClose, .dataReceived: .awaitingReleaseResponse,
                                   .abortReceived: .idle, .abortRequested: .awaitingClose, .transportClosed: .idle,
                                   .timerExpired: .awaitingClose],
        .awaitingClose: [.transportClosed: .idle, .timerExpired: .idle, .abortReceived: .awaitingClose,
                         .abortRequested: .awaitingClose, .dataReceived: .awaitingClose],
    ]

    public struct ProtocolError: Error, Equatable, CustomStringConvertible {
        public let state: State
        public let event: Event
        public var description: String { "\(event.rawValue) is not valid in state \(state.rawValue)" }
    }

    /// Moves on `event`, or throws when the table has no such transition (the caller aborts).
    public mutating func handle(_ event: Event) throws(ProtocolError) {
        guard let next = UpperLayerStateMachine.table[state]?[event] else {
            let error = ProtocolError(state: state, event: event)
            state = .awaitingClose
            throw error
        }
        state = next
    }
}
