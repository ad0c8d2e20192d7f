import MeterlineCore

// The journal book's cumulative positions from outside its own posting: taken for a checkpoint and restored from
// one (`state`, `restore`), or seeded with billing events posted before (`seed`, under a backfill's adjustments).

extension JournalBook {
    /// The book's state for a checkpoint: positions (canonical order), billing events not yet posted, and
    /// how far it has posted. `restore` with it continues exactly where this book is.
    public func state() -> (positions: [Position], pending: [BillingEvent], postedThrough: Int64) {
        let all = zip(positions.keys, positionValues).map { k, v in
            Position(entity: k.entity, subject: k.subject, meter: k.meter, periodStart: k.periodStart, exact: v.exact, posted: v.posted)
        }.sorted { ($0.entity, $0.subject, $0.meter, $0.periodStart) < ($1.entity, $1.subject, $1.meter, $1.periodStart) }
        let pending = self.pending.keys.sorted().flatMap { self.pending[$0]! }
        return (all, pending, postedThrough)
    }

    /// Replaces the book's state with one taken by `state()`.
    public mutating func restore(positions: [Position], pending: [BillingEvent], postedThrough: Int64) {
        self.positions = WordIndex(capacity: positions.count)
        positionValues = []
        positionValues.reserveCapacity(positions.count)
        for p in positions {
            let key = CumulativeKey(entity: p.entity, subject: p.subject, meter: p.meter, periodStart: p.periodStart)
            let (n, inserted) = self.positions.findOrInsert(key, word: key.word)
            precondition(inserted && n == positionValues.count, "position \(p.entity)|\(p.subject)|\(p.meter)|\(p.periodStart) twice")
            positionValues.append((p.exact, p.posted))
        }
        self.pending = [:]
        add(pending)
        self.postedThrough = postedThrough
    }

    /// Seeds the book with billing events that were posted before (a previous run's, under the adjustments of a
    /// backfill): it is left with the positions and `postedThrough` that `finish(adding: events)` would leave, but
    /// builds none of the lines and entries that posting would make and the caller would throw away.
    ///
    /// Cumulative rounding leaves a position at `round(start + Σ amounts)` in any order of its events, as long as no
    /// sum or rounding fails on the way and its events share one currency's digits; a position for which any of
    /// that does not hold is replayed event by event in the order posting meets them (posting interval, then id),
    /// so the result is posting's in every case. Events of entities the book does not know are skipped, as posting
    /// skips them. Needs a book with nothing buffered.
    public mutating func seed(with events: [BillingEvent]) {
        precondition(pending.isEmpty, "seed(with:) needs a book with nothing buffered")
        events.withUnsafeBufferPointer { ev in
            struct Member { var exact: Amount; var posted: Int128; var digits: Int; var known: Int32; var word: UInt64; var replay: Bool }
            var memberIndex = WordIndex<CumulativeKey>(capacity: ev.count)
            var members: [Member] = []
            var memberOf = [Int32](repeating: -1, count: ev.count)
            var lastEntity: LegalEntity? = nil
            for i in ev.indices {
                // Every event's interval counts, as in `finish(adding:)`, also one of an unknown entity.
                postedThrough = max(postedThrough, UTC.floor(ev[i].postedAt, interval) + interval)
                if lastEntity?.id != ev[i].entity { lastEntity = entities[ev[i].entity] }
                guard let entity = lastEntity, entity.id == ev[i].entity else { continue }
                let ck = CumulativeKey(entity: ev[i].entity, subject: ev[i].subject, meter: ev[i].meter, periodStart: ev[i].periodStart)
                let word = ck.word
                let (m, isNew) = memberIndex.findOrInsert(ck, word: word)
                let digits = ev[i].currency.minorUnitDigits
                if isNew {
                    let known = positions.number(of: ck, word: word)
                    let start: (exact: Amount, posted: Int128) = known.map { positionValues[$0] } ?? (Amount.zero, 0)
                    members.append(Member(exact: start.exact, posted: start.posted, digits: digits, known: Int32(known ?? -1),
                                          word: word, replay: false))
                }
                memberOf[i] = Int32(m)
                guard !members[m].replay else { continue }
                if digits != members[m].digits { members[m].replay = true; continue }
                if let sum = try? members[m].exact.adding(ev[i].postedAmount) { members[m].exact = sum } else { members[m].replay = true }
            }
            // round(start + Σ), as the last `advance` leaves it; a rounding that fails leaves what an earlier step
            // posted, which depends on the order: replayed too.
            for m in members.indices where !members[m].replay {
                if let r = try? members[m].exact.minorUnits(digits: members[m].digits, mode: rounding) { members[m].posted = r } else {
                    members[m].replay = true
                }
            }
            // Positions replayed in posting order: their events by (interval, id), from the position they started at.
            var replayed: [Int: [Int]] = [:]
            for i in ev.indices where memberOf[i] >= 0 && members[Int(memberOf[i])].replay { replayed[Int(memberOf[i]), default: []].append(i) }
            for (m, list) in replayed {
                let known = Int(members[m].known)
                var c: (exact: Amount, posted: Int128) = known >= 0 ? positionValues[known] : (Amount.zero, 0)
                let order = list.sorted { a, b in
                    let ia = UTC.floor(ev[a].postedAt, interval), ib = UTC.floor(ev[b].postedAt, interval)
                    return ia != ib ? ia < ib : BillingEvent.idPrecedes(ev[a].id, ev[b].id)
                }
                for i in order {
                    _ = JournalBook.advance(&c, by: ev[i].postedAmount, digits: ev[i].currency.minorUnitDigits, rounding: rounding)
                }
                members[m].exact = c.exact
                members[m].posted = c.posted
            }
            positions.reserveCapacity(positions.count + members.count)
            positionValues.reserveCapacity(positions.count + members.count)
            for m in members.indices {
                let value = (exact: members[m].exact, posted: members[m].posted)
                if members[m].known >= 0 { positionValues[Int(members[m].known)] = value } else {
                    let (n, _) = positions.findOrInsert(memberIndex.keys[m], word: members[m].word)
                    assert(n == positionValues.count)
                    positionValues.append(value)
                }
            }
        }
    }
}
