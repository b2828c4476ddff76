import ArgumentParser
import Foundation
import PortalConfiguration
import PortalCore
import PortalStore

/// `dicom-portal patient invite`: a single-use invitation to the patient portal, e-mailed through the hospital's relay
/// (or shown once, for staff who hand it over in person). Core's edge link takes it to the edge at its next poll.
struct InviteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Invite a registered patient to the patient portal (a single-use link, e-mailed).",
        discussion: """
            The link is PUBLIC_URL/enrol.html#token=… ([edge] public_url), valid for [invitations] lifetime hours, and \
            replaces any earlier invitation of the patient. It goes by e-mail through [mail]; with --print-link it is \
            printed instead (and not e-mailed), for staff who hand it to the patient in person. Core keeps only the \
            token's SHA-256.
            """)

    @OptionGroup var options: PortalOptions
    @OptionGroup var patient: PatientSelection
    @Option(help: "Change the patient's e-mail address (where the invitation goes, and their sign-in name) first.") var email: String?
    @Flag(name: .customLong("print-link"), help: "Print the link instead of e-mailing it (to hand it over in person).") var printLink = false

    func run() async throws {
        let configuration = try options.loadConfiguration()
        var mailer: InvitationMailer?
        if !printLink {
            do throws(InvitationMailer.SetupError) { mailer = try InvitationMailer(configuration.mail) } catch {
                fail(error == .noHost ? "[mail] host is not set: name the hospital's relay, or give --print-link to hand the link over in person"
                                      : "\(error)", status: .usage)
            }
        }
        let opened = try await options.openMigrated(configuration, logger: "dicom-portal.patient")
        let issuer = patient.resolvedIssuer(configuration)
        let outcome: Result<String, InviteFailure> = try await opened.use { database in
            guard let (row, _) = try await PatientRegistry(database).find(patientID: patient.id, issuer: issuer) else {
                return .failure(InviteFailure(patient.notRegistered(issuer: issuer)))
            }
            if let email {
                do { try await PatientRegistry(database).setEmail(id: row, email: email, actor: commandActor) } catch let error as PatientRecordError {
                    return .failure(InviteFailure("\(error)"))
                }
            }
            // The edge's own default when unset: https:// + [edge] listen.
            let inviter = PatientInviter(database: database, publicURL: configuration.edge.origin, hospital: configuration.edge.hospitalName,
                                         lifetime: TimeInterval(configuration.invitations.lifetimeHours * 3600), mailer: mailer)
            let sent: PatientInviter.Outcome
            do { sent = try await inviter.invite(patient: row, delivery: printLink ? .inPerson : .email, actor: commandActor) } catch let failure as PatientInviter.Failure {
                if failure == .noEmail {
                    return .failure(InviteFailure("patient \(patient.id) has no e-mail address (their sign-in name at the portal): give --email"))
                }
                return .failure(InviteFailure(failure.description))
            }
            let until = ISO8601DateFormatter().string(from: sent.invitation.expiresAt)
            let replaced = sent.replaced.map { " (invitation \($0) revoked)" } ?? ""
            if let link = sent.link {
                return .success("invitation \(sent.invitation.id) for patient \(patient.id), valid until \(until)\(replaced); hand this link to the patient:\n\(link)")
            }
            return .success("invitation \(sent.invitation.id) for patient \(patient.id) e-mailed to \(sent.address ?? ""), valid until \(until)\(replaced)")
        }
        switch outcome {
        case .success(let line): print(line)
        case .failure(let failure): fail(failure.description, status: .problem)
        }
    }
}

struct InviteFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The registered patient a command acts on: `--id` and `--issuer`.
struct PatientSelection: ParsableArguments {
    @Option(help: "The hospital's Patient ID.") var id: String
    @Option(help: "Issuer of the Patient ID (default: [reconciliation] issuer_of_patient_id).") var issuer: String?

    func resolvedIssuer(_ configuration: PortalConfiguration) -> String {
        issuer ?? configuration.pipeline.reconciliation.issuerOfPatientID ?? ""
    }

    func notRegistered(issuer: String) -> String {
        "no patient \(id)\(issuer.isEmpty ? "" : " (issuer \(issuer))") is registered"
    }
}

/// Unlock and reset-second-factor: a request about a registered patient's portal account, recorded for core's edge
/// link to pass on at its next poll; an unknown patient is a problem exit.
private func requestAtEdge(_ options: PortalOptions, _ patient: PatientSelection,
                           _ request: (InvitationStore, _ patient: Int64) async throws -> Void) async throws {
    let configuration = try options.loadConfiguration()
    let opened = try await options.openMigrated(configuration, logger: "dicom-portal.patient")
    let issuer = patient.resolvedIssuer(configuration)
    let found = try await opened.use { database -> Bool in
        guard let (row, _) = try await PatientRegistry(database).find(patientID: patient.id, issuer: issuer) else { return false }
        try await request(InvitationStore(database), row)
        return true
    }
    guard found else { fail(patient.notRegistered(issuer: issuer), status: .problem) }
}

/// `dicom-portal patient unlock`: after too many second-factor failures the patient's portal account is locked; staff
/// who have confirmed who is calling unlock it. Core's edge link passes the request on at its next poll.
struct UnlockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlock", abstract: "Unlock a patient's portal account after too many failed second-factor attempts.")

    @OptionGroup var options: PortalOptions
    @OptionGroup var patient: PatientSelection

    func run() async throws {
        try await requestAtEdge(options, patient) { try await $0.request(.unlock, patient: $1, actor: commandActor) }
        print("unlock of patient \(patient.id)'s portal account requested; core passes it to the edge at its next poll")
    }
}

/// `dicom-portal patient reset-second-factor`: a patient who lost their phone or passkey (and their recovery codes)
/// cannot sign in; staff who have confirmed who is calling remove their second factor at the edge. Their sessions end
/// there, and they enrol again from a new invitation (`patient invite`). Core's edge link carries it at its next poll.
struct ResetSecondFactorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset-second-factor",
        abstract: "Remove a patient's second factor (passkeys, authenticator app, recovery codes) at the portal; they enrol again from a new invitation.")

    @OptionGroup var options: PortalOptions
    @OptionGroup var patient: PatientSelection

    func run() async throws {
        try await requestAtEdge(options, patient) { try await $0.request(.secondFactorReset, patient: $1, actor: commandActor) }
        print("second-factor reset of patient \(patient.id)'s portal account requested; core passes it to the edge at its next poll. Invite them again (patient invite) to enrol anew.")
    }
}
