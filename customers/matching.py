"""Which social authors are which customers (issue 14).

Rules, strongest first (README "Customers"):

- handle (exact): the customer's platform + handle equals the author's, both normalised by
  customers.handles.handle_key. Confirmed at once, confidence 1.
- other_platform (suggestion, 0.6): the customer's handle on one platform is the author's
  on another ("twitter:@ann_smith" and ann_smith@example.social); local parts of 4+
  characters only.
- email_local (suggestion, 0.5): the e-mail's local part (before "+" and "@") is the
  author's handle local part; 4+ characters only.
- display_name (suggestion, 0.4): name and display name equal ignoring case, accents,
  punctuation and spacing, of at least two words.

A suggestion's confidence is its rule's, divided by the number of candidates the rule found
on either side (two customers named "Ann Smith" make each pairing half as likely), then
several rules on one pair combine as 1 - (1 - a)(1 - b), at most 0.95. Suggestions are
only made between a brand's customers and authors heard in that brand's mentions (the
brand's AuthorRollup): a common name would otherwise pair with every namesake on the
platforms. No rule but the exact handle confirms anything; a rejected pair is never
suggested again (its row stays), and a person's decision is never overwritten by a rule.

Everything here is set-based SQL, a few statements per import or per batch of new authors.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from customers.handles import handle_key, handle_local, name_key
from customers.models import AuthorKey, AuthorMatch, Customer, CustomerHandle
from listening.models import Author, AuthorRollup

RULE_HANDLE = "handle"
RULES = {"other_platform": 0.6, "email_local": 0.5, "display_name": 0.4}
MIN_LOCAL_LENGTH = 4
MAX_SUGGESTION_CONFIDENCE = 0.95
AUTHOR_KEY_BATCH = 5000
# Author ids are handed out before their transaction commits, so a batch committed late can
# have ids below the highest keyed one: each run looks this far back for authors without keys.
AUTHOR_ID_LOOKBACK = 20_000

_T = {
    "match": AuthorMatch._meta.db_table,
    "handle": CustomerHandle._meta.db_table,
    "key": AuthorKey._meta.db_table,
    "customer": Customer._meta.db_table,
    "rollup": AuthorRollup._meta.db_table,
}


@dataclass
class MatchCounts:
    exact: int = 0
    suggestions: int = 0

    def __iadd__(self, other: MatchCounts) -> MatchCounts:
        self.exact += other.exact
        self.suggestions += other.suggestions
        return self


def author_key_of(author: Author) -> AuthorKey:
    key = handle_key(author.platform, author.handle)
    return AuthorKey(
        author_id=author.pk,
        platform=author.platform[:32],
        key=key[:300],
        local=handle_local(author.platform, key)[:300],
        name_key=name_key(author.display_name)[:300],
    )


def author_keys_add(*, limit: int = AUTHOR_KEY_BATCH) -> list[int]:
    """Key up to `limit` authors that have no AuthorKey yet (newest ids, with a look-back);
    return their ids. Idempotent (ignore_conflicts); touches AuthorKey only. Two queries."""
    newest = AuthorKey.objects.order_by("-author_id").values_list("author_id", flat=True).first()
    start = max(0, (newest or 0) - AUTHOR_ID_LOOKBACK)
    authors = list(
        Author.objects.filter(pk__gt=start)
        .exclude(pk__in=AuthorKey.objects.filter(author_id__gt=start).values("author_id"))
        .order_by("pk")
        .only("pk", "platform", "handle", "display_name")[:limit]
    )
    AuthorKey.objects.bulk_create(
        [author_key_of(a) for a in authors], ignore_conflicts=True, batch_size=1000
    )
    return [a.pk for a in authors]


def _scope(column: str, ids: Sequence[int] | None) -> tuple[str, list]:
    if ids is None:
        return "", []
    if not ids:
        return " AND FALSE", []
    return f" AND {column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def exact_matches_add(
    *, brand_id: int | None = None, author_ids: Sequence[int] | None = None
) -> int:
    """Confirm every (customer handle, author) pair with equal platform and key, for one
    brand or for some authors. A pending suggestion of the pair becomes the exact match; a
    rejected pair stays rejected. Returns the pairs newly confirmed. Idempotent."""
    where, params = _scope("ak.author_id", author_ids)
    if brand_id is not None:
        where += " AND ch.brand_id = %s"
        params.append(brand_id)
    sql = (
        f"INSERT INTO {_T['match']} (brand_id, customer_id, author_id, kind, rule, confidence,"  # noqa: S608 (fixed names)
        " status, created_at)"
        " SELECT DISTINCT ch.brand_id, ch.customer_id, ak.author_id, 'exact',"
        f" '{RULE_HANDLE}', 1.0, 'confirmed', %s"
        f" FROM {_T['handle']} ch JOIN {_T['key']} ak ON ak.platform = ch.platform"
        f" AND ak.key = ch.key WHERE ak.key <> ''{where}"
        " ON CONFLICT (customer_id, author_id) DO UPDATE SET kind = 'exact',"
        f" rule = '{RULE_HANDLE}', confidence = 1.0, status = 'confirmed'"
        f" WHERE {_T['match']}.status = 'suggested'"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [timezone.now(), *params])
        return max(cursor.rowcount, 0)


def exact_matches_prune(*, brand_id: int) -> int:
    """Remove a brand's exact matches whose handle the customer's data no longer lists (a
    re-import changed the handles column). Matches a person decided are kept. Returns rows
    removed. Idempotent."""
    where, params = " AND m.brand_id = %s", [brand_id]
    sql = (
        f"DELETE FROM {_T['match']} WHERE id IN (SELECT m.id FROM {_T['match']} m"  # noqa: S608
        f" JOIN {_T['key']} ak ON ak.author_id = m.author_id"
        " WHERE m.kind = 'exact' AND m.decided_at IS NULL"
        f"{where} AND NOT EXISTS (SELECT 1 FROM {_T['handle']} ch"
        " WHERE ch.customer_id = m.customer_id AND ch.platform = ak.platform"
        " AND ch.key = ak.key))"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _candidates(
    brand_id: int | None, author_ids: Sequence[int] | None
) -> dict[str, list[tuple[int, int, int]]]:
    """{rule: [(brand id, customer id, author id)]} of authors heard in the brand."""
    where, params = _scope("ak.author_id", author_ids)
    if brand_id is not None:
        where += " AND c.brand_id = %s"
        params.append(brand_id)
    heard = (
        f" AND EXISTS (SELECT 1 FROM {_T['rollup']} r WHERE r.brand_id = c.brand_id"  # noqa: S608
        " AND r.author_id = ak.author_id)"
    )
    queries = {
        "other_platform": (
            f"SELECT DISTINCT c.brand_id, c.id, ak.author_id FROM {_T['handle']} ch"  # noqa: S608
            f" JOIN {_T['customer']} c ON c.id = ch.customer_id"
            f" JOIN {_T['key']} ak ON ak.local = ch.local AND ak.platform <> ch.platform"
            f" WHERE LENGTH(ch.local) >= {MIN_LOCAL_LENGTH}"
        ),
        "email_local": (
            f"SELECT DISTINCT c.brand_id, c.id, ak.author_id FROM {_T['customer']} c"  # noqa: S608
            f" JOIN {_T['key']} ak ON ak.local = c.email_local"
            f" WHERE LENGTH(c.email_local) >= {MIN_LOCAL_LENGTH}"
        ),
        "display_name": (
            f"SELECT DISTINCT c.brand_id, c.id, ak.author_id FROM {_T['customer']} c"  # noqa: S608
            f" JOIN {_T['key']} ak ON ak.name_key = c.name_key"
            " WHERE c.name_key LIKE '%% %%'"
        ),
    }
    found = {}
    with connection.cursor() as cursor:
        for rule, sql in queries.items():
            cursor.execute(sql + where + heard, params)
            found[rule] = cursor.fetchall()
    return found


def suggestion_confidences(
    candidates: dict[str, Iterable[tuple[int, int, int]]],
) -> dict[tuple[int, int, int], tuple[float, list[str]]]:
    """{(brand, customer, author): (confidence, rules)}, by the rules in the module doc."""
    combined: dict[tuple[int, int, int], tuple[float, list[str]]] = {}
    for rule, rows in candidates.items():
        rows = list(rows)
        per_customer: dict[int, int] = defaultdict(int)
        per_author: dict[tuple[int, int], int] = defaultdict(int)
        for brand, customer, author in rows:
            per_customer[customer] += 1
            per_author[(brand, author)] += 1
        for brand, customer, author in rows:
            share = RULES[rule] / max(per_customer[customer], per_author[(brand, author)])
            miss, rules = combined.get((brand, customer, author), (1.0, []))
            combined[(brand, customer, author)] = (miss * (1 - share), [*rules, rule])
    return {
        pair: (min(MAX_SUGGESTION_CONFIDENCE, round(1 - miss, 4)), rules)
        for pair, (miss, rules) in combined.items()
    }


def suggestions_add(*, brand_id: int | None = None, author_ids: Sequence[int] | None = None) -> int:
    """Suggest the weaker rules' pairs for one brand or for some authors; a pair that
    already has a row (confirmed, suggested or rejected) is left alone. Returns new rows.
    Idempotent; touches AuthorMatch only."""
    scored = suggestion_confidences(_candidates(brand_id, author_ids))
    if not scored:
        return 0
    now = timezone.now()
    rows = [
        AuthorMatch(
            brand_id=brand,
            customer_id=customer,
            author_id=author,
            kind=AuthorMatch.Kind.SUGGESTED,
            rule="+".join(sorted(rules)),
            confidence=confidence,
            status=AuthorMatch.Status.SUGGESTED,
            created_at=now,
        )
        for (brand, customer, author), (confidence, rules) in scored.items()
        if not math.isclose(confidence, 0.0)
    ]
    before = AuthorMatch.objects.filter(created_at=now).count()
    AuthorMatch.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return AuthorMatch.objects.filter(created_at=now).count() - before


def brand_match(*, brand_id: int) -> MatchCounts:
    """Match a brand's customers with every author known (end of an import): keys new
    authors first, prunes exact matches of handles no longer listed, then adds exact matches
    and suggestions. Idempotent."""
    while len(author_keys_add()) == AUTHOR_KEY_BATCH:
        pass
    with transaction.atomic():
        exact_matches_prune(brand_id=brand_id)
        counts = MatchCounts(exact=exact_matches_add(brand_id=brand_id))
        counts.suggestions = suggestions_add(brand_id=brand_id)
    return counts


def new_authors_match(*, limit: int = AUTHOR_KEY_BATCH) -> tuple[int, MatchCounts]:
    """Key one batch of authors that arrived since the last run and match them against every
    brand's customers (the periodic task; ingest itself does nothing more). Returns the
    authors keyed and the matches made. Idempotent; touches AuthorKey and AuthorMatch."""
    with transaction.atomic():
        author_ids = author_keys_add(limit=limit)
        if not author_ids:
            return 0, MatchCounts()
        counts = MatchCounts(
            exact=exact_matches_add(author_ids=author_ids),
            suggestions=suggestions_add(author_ids=author_ids),
        )
    return len(author_ids), counts
