// JSON rendering of lineage query results (`meterline lineage show --json`).
import Foundation
import MeterlineCore
import MeterlineLineage

// MARK: JSON

extension LineageQuery {
    static func writeEvent(_ w: inout JSONWriter, _ e: LineageEvent) {
        w.element()
        w.beginObject()
        w.field("time", RFC3339.format(micros: e.timeMicros))
        w.field("id", e.id)
        w.field("source", e.source)
        w.field("value", Quantity(raw: e.value).description)
        w.field("offset", e.offset)
        w.endObject()
    }
}

extension BillingEventLineage {
    /// Machine-readable form (all events unless `eventLimit`), one line.
    public func json(eventLimit: Int? = nil) -> String {
        var w = JSONWriter()
        write(&w, eventLimit: eventLimit)
        return w.text
    }

    func write(_ w: inout JSONWriter, eventLimit: Int?) {
        let r = record
        w.beginObject()
        w.field("id", r.id)
        w.field("kind", r.kind)
        w.field("revision", r.revision)
        w.field("subject", r.subject)
        w.field("entity", r.entity)
        w.field("meter", r.meter)
        w.key("dimensions"); w.beginObject(); for (k, v) in r.dimensions { w.field(text: k, v) }; w.endObject()
        w.field("windowStart", r.windowStart)
        w.field("windowEnd", r.windowEnd)
        w.field("periodStart", r.periodStart)
        w.field("postedAt", r.postedAt)
        w.field("quantity", r.quantity.description)
        w.field("amount", r.amount.description)
        if let d = r.amountDelta { w.field("amountDelta", d.description) }
        w.field("postedAmount", r.postedAmount.description)
        w.field("currency", r.currency)
        w.field("eventCount", r.eventCount)
        w.key("windows")
        w.beginArray()
        var budget = eventLimit ?? Int.max
        for win in windows {
            w.element()
            w.beginObject()
            w.field("ref", win.ref)
            w.field("source", win.source)
            w.field("key", win.key)
            w.key("files"); w.beginArray(); for f in win.files { w.element(); w.string(f) }; w.endArray()
            w.field("eventCount", win.events.count)
            w.key("events")
            w.beginArray()
            for e in win.events.prefix(max(0, budget)) { LineageQuery.writeEvent(&w, e) }
            w.endArray()
            budget -= win.events.count
            w.endObject()
        }
        w.endArray()
        w.key("totals"); w.beginObject(); w.field("count", totals.count); w.field("valueSum", totals.quantity.description); w.endObject()
        w.key("counted"); w.beginObject(); w.field("count", counted.count); w.field("valueSum", counted.quantity.description); w.endObject()
        w.field("laterEvents", laterEvents)
        w.field("rule", rule.rawValue)
        w.key("recomputedQuantity")
        if let q = recomputedQuantity { w.string(q.description) } else { w.null() }
        w.field("countDifference", countDifference)
        w.field("quantityDifference", Quantity(raw: quantityDifference).description)
        w.key("duplicateIds"); w.beginArray(); for d in duplicateIds { w.element(); w.string(d) }; w.endArray()
        w.field("reconciles", reconciles)
        w.field("note", note)
        w.endObject()
    }
}

extension JournalLineLineage {
    /// Machine-readable form (all events unless `eventLimit` per billing event), one line.
    public func json(eventLimit: Int? = nil) -> String {
        var w = JSONWriter()
        let l = line
        let digits = Currency(code: l.currency)?.minorUnitDigits ?? 2
        func minor(_ v: Int128) -> String { FixedPoint.format(v * FixedPoint.pow10(Amount.scale - digits), scale: Amount.scale) }
        w.beginObject()
        w.field("journalId", l.journalId)
        w.field("entity", l.entity)
        w.field("currency", l.currency)
        w.field("postingDate", l.postingDate)
        w.field("period", l.period)
        w.field("lineId", l.lineId)
        w.field("account", l.account)
        if let s = l.subject { w.field("subject", s) }
        w.key("debit"); w.raw(String(l.debit))
        w.key("credit"); w.raw(String(l.credit))
        w.field("memo", l.memo)
        w.key("reconciliation")
        w.beginObject()
        w.key("lineMinor"); w.raw(String(l.amountMinor))
        w.field("postedSum", postedSum.description)
        w.key("roundedSumMinor"); w.raw(String(roundedSumMinor))
        w.key("differenceMinor"); w.raw(String(differenceMinor))
        w.key("cumulativeMinor"); w.raw(String(cumulativeMinor))
        w.field("lineAmount", minor(l.amountMinor))
        w.key("groups")
        w.beginArray()
        for g in groups {
            w.element()
            w.beginObject()
            w.field("entity", g.entity); w.field("subject", g.subject); w.field("meter", g.meter); w.field("periodStart", g.periodStart)
            w.field("periodExact", g.periodExact.description)
            w.key("periodMinor"); w.raw(String(g.periodMinor))
            w.field("onLine", g.onLine)
            w.field("unlistedZeroIncrement", g.unlistedZeroIncrement)
            w.field("unlistedAmount", g.unlistedAmount.description)
            w.endObject()
        }
        w.endArray()
        w.field("reconciles", reconciles)
        w.field("rule", rule)
        w.endObject()
        w.key("billingEvents")
        w.beginArray()
        for b in billingEvents { w.element(); b.write(&w, eventLimit: eventLimit) }
        w.endArray()
        w.endObject()
        return w.text
    }
}
