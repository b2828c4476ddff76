import SessionReport

extension Receipt {
    /// A self-contained page: inline CSS only, no scripts, no external references, so it renders
    /// the same offline, in a mail attachment or from a USB stick, and cannot call out anywhere.
    /// Every string from the report or the caller goes through `escape`.
    public func html() -> String {
        let facts = facts
        var h: [String] = []
        h.append("""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(Receipt.title)</title>
            <style>
            body{font-family:system-ui,"Segoe UI",Arial,sans-serif;color:#111;background:#fff;line-height:1.4;max-width:46em;margin:1.5em auto;padding:0 1em}
            h1{font-size:1.5em;margin:0 0 .4em}
            h2{font-size:1.1em;margin:1.4em 0 .4em;padding-bottom:.15em;border-bottom:1px solid #999}
            dl.meta{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:0}
            dl.meta dt{font-weight:bold}dl.meta dd{margin:0}
            .code{border:2px solid #111;border-radius:.4em;padding:.6em 1em;margin:1em 0;text-align:center}
            .code strong{display:block;font:bold 2.2em ui-monospace,Menlo,Consolas,monospace;letter-spacing:.12em}
            table{border-collapse:collapse;width:100%}
            th,td{text-align:left;vertical-align:top;padding:.25em .5em;border-bottom:1px solid #ddd}
            td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
            code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;color:#555}
            ul.paths{margin:.2em 0 .4em;font-size:.85em}
            .sev-high,.sev-critical,.bad{color:#a00;font-weight:bold}.sev-medium,.warn{color:#8a4b00}
            footer{margin-top:2em;padding-top:.5em;border-top:1px solid #999;font-size:.85em;color:#555}
            @media print{body{margin:0;max-width:none;font-size:10.5pt}.code{border-width:3px}
            h2{break-after:avoid;page-break-after:avoid}tr,li,.code{break-inside:avoid;page-break-inside:avoid}
            .sev-high,.sev-critical,.bad,.sev-medium,.warn,code,footer{color:#000}}
            </style>
            </head>
            <body>
            <h1>\(Receipt.title)</h1>
            """)
        var meta = [("Station", station), ("Date", Receipt.timestamp(finished)), ("Session", sessionID)]
        if let operatorName { meta.append(("Operator", operatorName)) }
        h.append("<dl class=\"meta\">" + meta.map { "<dt>\($0.0)</dt><dd>\(Markup.escape($0.1))</dd>" }.joined() + "</dl>")
        h.append("<div class=\"code\">Lookup code<strong>\(Markup.escape(lookupCode))</strong>\(Markup.escape(Receipt.codeNote))</div>")

        h.append("<section><h2>Patient</h2>")
        if let expected = expectedPatient { h.append("<p>Patient given at the desk: \(Markup.escape(expected))</p>") }
        if facts.patients.isEmpty { h.append("<p>\(Markup.escape(Receipt.noImages))</p>") }
        for patient in facts.patients {
            h.append("<p><strong>\(Markup.escape(patient.name))</strong><br>Patient ID \(Markup.escape(patient.id)), born \(Markup.escape(patient.birthDate))</p><ul>")
            for study in patient.studies {
                let tone = study.identity == .mismatch ? " class=\"bad\"" : study.identity == .unverified ? " class=\"warn\"" : ""
                h.append("<li>\(Markup.escape(Receipt.studyLine(study)))<br>Patient check: <span\(tone)>\(Markup.escape(identity(study)))</span></li>")
            }
            h.append("</ul>")
        }
        if let reason = report.identityOverride { h.append("<p class=\"warn\">Reason recorded for the override: \(Markup.escape(reason))</p>") }
        h.append("</section>")

        h.append("<section><h2>Files</h2><table>")
        h.append(totals.map { "<tr><td>\(Markup.escape($0.0))</td><td class=\"n\">\($0.1)</td></tr>" }.joined() + "</table>")
        if let routine = facts.routine { h.append("<p>\(Markup.escape(routine))</p>") }
        h.append("</section>")

        h.append("<section><h2>What was found</h2>")
        if facts.findings.isEmpty {
            h.append("<p>Nothing unusual was found.</p>")
        } else {
            h.append("<table><tr><th>What happened</th><th>Times</th><th>Importance</th></tr>")
            for group in facts.findings {
                h.append("<tr><td>\(Markup.escape(group.sentence)) <code>\(Markup.escape(group.code))</code></td><td class=\"n\">\(group.count)</td>"
                    + "<td class=\"\(group.routine ? "routine" : "sev-" + group.severity.rawValue)\">\(group.importance)</td></tr>")
            }
            h.append("</table>")
        }
        h.append("</section>")

        if !facts.discarded.isEmpty || facts.refused > 0 {
            h.append("<section><h2>Left out and refused</h2>")
            for group in facts.discarded {
                h.append("<p>\(Markup.escape(group.label)) left out: \(group.count)</p><ul class=\"paths\">"
                    + group.examples.map { "<li>\(Markup.escape($0))</li>" }.joined()
                    + (group.count > group.examples.count ? "<li>and \(group.count - group.examples.count) more</li>" : "") + "</ul>")
            }
            if facts.refused > 0 {
                h.append("<p class=\"warn\">Refused image files: \(facts.refused). \(Receipt.refusedNote)</p>")
            }
            h.append("</section>")
        }

        h.append("<section><h2>Where the images went</h2>")
        h.append("<p>Destination: " + (report.destination.map { "<code>\(Markup.escape($0))</code>" } ?? "none (nothing was sent)") + "</p>")
        h.append("<table><tr><td>Stored</td><td class=\"n\">\(facts.stored)</td></tr>"
            + "<tr><td>Pending in the spool (sent automatically later)</td><td class=\"n\">\(facts.spooled)</td></tr>"
            + "<tr><td>Failed (kept for IT)</td><td class=\"n\">\(facts.failed)</td></tr></table></section>")

        h.append("<footer>\(Markup.escape(Receipt.footer))</footer>\n</body>\n</html>\n")
        return h.joined(separator: "\n")
    }
}

