import Foundation
import PortalStore

/// Inviting a registered patient to the portal, as `patient invite` and the console both do it: a fresh single-use
/// invitation (replacing a live one, whose link then stops working), e-mailed through the relay or, for staff who
/// hand it over in person, returned as the link. An e-mail the relay does not take revokes the invitation again.
/// Every step is audited by the stores it goes through.
public struct PatientInviter: Sendable {
    public enum Delivery: Sendable, Equatable {
        case email
        /// The link is returned for staff to hand over; nothing is e-mailed.
        case inPerson
    }

    public struct Outcome: Sendable {
        public let invitation: Invitation
        /// The invitation this one replaced, if one was live.
        public let replaced: Int64?
        /// Where it was e-mailed (`.email`).
        public let address: String?
        /// The link itself, only for `.inPerson`: it is never kept.
        public let link: String?
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unknownPatient(Int64)
        /// The patient has no e-mail address, which is also their sign-in name at the portal.
        case noEmail
        /// No relay is configured.
        case mailNotConfigured
        /// The relay did not take the message: the invitation was revoked.
        case mailFailed(invitation: Int64, reason: String)

        public var description: String {
            switch self {
            case .unknownPatient(let id): "no patient with id \(id) is on record"
            case .noEmail: "the patient has no e-mail address (their sign-in name at the portal): add one first"
            case .mailNotConfigured: "no mail relay is configured ([mail] host, [mail] from): invitations cannot be e-mailed"
            case .mailFailed(let invitation, let reason): "the invitation e-mail could not be sent (invitation \(invitation) was revoked): \(reason)"
            }
        }
    }

    let database: PortalDatabase
    let publicURL: String
    let hospital: String
    let lifetime: TimeInterval
    let mailer: InvitationMailer?

    /// - Parameters:
    ///   - publicURL: the edge's public origin (`[edge] public_url`); links are `PUBLIC_URL/enrol.html#token=…`.
    ///   - lifetime: how long a link works (`[invitations] lifetime`).
    ///   - mailer: nil when no relay is configured (only `.inPerson` works then).
    public init(database: PortalDatabase, publicURL: String, hospital: String, lifetime: TimeInterval, mailer: InvitationMailer?) {
        self.database = database; self.publicURL = publicURL; self.hospital = hospital; self.lifetime = lifetime; self.mailer = mailer
    }

    public func invite(patient id: Int64, delivery: Delivery, actor: String) async throws -> Outcome {
        guard let patient = try await PatientRegistry(database).get(id: id) else { throw Failure.unknownPatient(id) }
        guard let address = patient.email else { throw Failure.noEmail }
        if delivery == .email && mailer == nil { throw Failure.mailNotConfigured }
        let invitations = InvitationStore(database)
        let issued: IssuedInvitation
        do { issued = try await invitations.issue(patient: id, lifetime: lifetime, actor: actor) } catch InvitationError.unknownPatient {
            throw Failure.unknownPatient(id)
        }
        let link = Self.link(publicURL: publicURL, token: issued.token)
        guard delivery == .email, let mailer else {
            try await invitations.markSent(issued.invitation.id, inPerson: true, actor: actor)
            return Outcome(invitation: issued.invitation, replaced: issued.replaced, address: nil, link: link)
        }
        let mail = InvitationMail(name: patient.name, hospital: hospital, link: link, expiresAt: issued.invitation.expiresAt)
        do {
            try await mailer.send(mail, to: address)
        } catch {
            try await invitations.revoke(issued.invitation.id, reason: "the e-mail could not be sent", actor: actor)
            throw Failure.mailFailed(invitation: issued.invitation.id, reason: "\(error)")
        }
        try await invitations.markSent(issued.invitation.id, inPerson: false, actor: actor)
        return Outcome(invitation: issued.invitation, replaced: issued.replaced, address: address, link: nil)
    }

    public static func link(publicURL: String, token: String) -> String {
        (publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL) + "/enrol.html#token=" + token
    }
}
