import NIOCore

/// The upper-layer protocol data units of PS3.8 §9.3, as values. `PDUCodec` turns them into bytes
/// and back, checking every length against what is there before reading it.
public enum PDU: Equatable, Sendable {
    case associateRequest(AssociateRequest)
    case associateAccept(AssociateAccept)
    case associateReject(AssociateReject)
    case data([PDV])
    case releaseRequest
    case releaseResponse
    case abort(source: UInt8, reason: UInt8)

    /// The PDU type byte (PS3.8 Table 9-11 and the following).
    public var type: UInt8 {
        switch self {
        case .associateRequest: 0x01
        case .associateAccept: 0x02
        case .associateReject: 0x03
        case .data: 0x04
        case .releaseRequest: 0x05
        case .releaseResponse: 0x06
        case .abort: 0x07
        }
    }
}

/// One presentation context proposed by the requestor: an abstract syntax (SOP class) and the
/// transfer syntaxes it can send it in.
public struct ProposedContext: Equatable, Sendable {
    public let id: UInt8
    public let abstractSyntax: String
    public let transferSyntaxes: [String]

    public init(id: UInt8, abstractSyntax: String, transferSyntaxes: [String]) {
        self.id = id; self.abstractSyntax = abstractSyntax; self.transferSyntaxes = transferSyntaxes
    }
}

/// The acceptor's answer for one context (PS3.8 §9.3.3.2): result 0 acceptance, 1 user rejection,
/// 2 no reason, 3 abstract syntax not supported, 4 transfer syntaxes not supported.
public struct AcceptedContext: Equatable, Sendable {
    public let id: UInt8
    public let result: UInt8
    public let transferSyntax: String

    public init(id: UInt8, result: UInt8, transferSyntax: String) {
        self.id = id; self.result = result; self.transferSyntax = transferSyntax
    }

    public var isAccepted: Bool { result == 0 }
}

/// SCP/SCU role selection for one SOP class (PS3.7 D.3.3.4).
public struct RoleSelection: Equatable, Sendable {
    public let sopClass: String
    public let scu: Bool
    public let scp: Bool

    public init(sopClass: String, scu: Bool, scp: Bool) { self.sopClass = sopClass; self.scu = scu; self.scp = scp }
}

/// User Information (PS3.7 Annex D.3.3): what each side says about itself.
public struct UserInformation: Equatable, Sendable {
    /// Largest P-DATA-TF PDU the sender of this item will receive; 0 = unlimited.
    public var maxPDULength: UInt32
    public var implementationClassUID: String
    public var implementationVersionName: String?
    /// Asynchronous operations window: invoked, performed (1, 1 = synchronous).
    public var asyncOperations: (invoked: UInt16, performed: UInt16)?
    public var roles: [RoleSelection]

    public init(maxPDULength: UInt32, implementationClassUID: String, implementationVersionName: String? = nil,
                asyncOperations: (invoked: UInt16, performed: UInt16)? = nil, roles: [RoleSelection] = []) {
        self.maxPDULength = maxPDULength; self.implementationClassUID = implementationClassUID
        self.implementationVersionName = implementationVersionName; self.asyncOperations = asyncOperations; self.roles = roles
    }

    public static func == (a: UserInformation, b: UserInformation) -> Bool {
        a.maxPDULength == b.maxPDULength && a.implementationClassUID == b.implementationClassUID
            && a.implementationVersionName == b.implementationVersionName && a.roles == b.roles
            && a.asyncOperations?.invoked == b.asyncOperations?.invoked && a.asyncOperations?.performed == b.asyncOperations?.performed
    }
}

public struct AssociateRequest: Equatable, Sendable {
    public var calledAE: String
    public var callingAE: String
    public var applicationContext: String
    public var contexts: [ProposedContext]
    public var user: UserInformation

    public init(calledAE: String, callingAE: String, contexts: [ProposedContext], user: UserInformation,
                applicationContext: String = AssociateRequest.dicomApplicationContext) {
        self.calledAE = calledAE; self.callingAE = callingAE; self.contexts = contexts; self.user = user
        self.applicationContext = applicationContext
    }

    /// The DICOM Application Context Name (PS3.7 Annex A.2.1).
    public static let dicomApplicationContext = "1.2.840.10008.3.1.1.1"
}

public struct AssociateAccept: Equatable, Sendable {
    public var calledAE: String
    public var callingAE: String
    public var applicationContext: String
    public var contexts: [AcceptedContext]
    public var user: UserInformation

    public init(calledAE: String, callingAE: String, contexts: [AcceptedContext], user: UserInformation,
                applicationContext: String = AssociateRequest.dicomApplicationContext) {
        self.calledAE = calledAE; self.callingAE = callingAE; self.contexts = contexts; self.user = user
        self.applicationContext = applicationContext
    }
}

/// A-ASSOCIATE-RJ (PS3.8 §9.3.4): result 1 permanent, 2 transient; source 1 user, 2 ACSE, 3 presentation.
public struct AssociateReject: Equatable, Sendable {
    public let result: UInt8
    public let source: UInt8
    public let reason: UInt8

    public init(result: UInt8, source: UInt8, reason: UInt8) { self.result = result; self.source = source; self.reason = reason }

    public var isPermanent: Bool { result == 1 }

    /// Words for a log line or finding (PS3.8 Table 9-21).
    public var description: String {
        let why: String = switch (source, reason) {
        case (1, 2): "application context not supported"
        case (1, 3): "calling AE title not recognised"
        case (1, 7): "called AE title not recognised"
        case (2, 2): "protocol version not supported"
        case (3, 1): "temporary congestion"
        case (3, 2): "local limit exceeded"
        default: "no reason given"
        }
        return "\(isPermanent ? "permanently" : "transiently") rejected: \(why)"
    }
}

/// One presentation data value: part of a command or data set message (PS3.8 §9.3.5.1).
public struct PDV: Equatable, Sendable {
    public let contextID: UInt8
    public let isCommand: Bool
    public let isLast: Bool
    public let data: ByteBuffer

    public init(contextID: UInt8, isCommand: Bool, isLast: Bool, data: ByteBuffer) {
        self.contextID = contextID; self.isCommand = isCommand; self.isLast = isLast; self.data = data
    }
}
