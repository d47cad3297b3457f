//! Lists as people word them: adding ("add sunscreen to my packing list", "put eggs and milk on
//! the list", "add butter"), removing ("take milk off my grocery list", "cross off bread"),
//! asking ("what's on my shopping list", "read the list", "what lists do I have"), creating,
//! clearing and deleting lists. An item must look like one (not a meeting, a time, a song) and a
//! list like a list (not a playlist, the calendar or contacts); otherwise the model decides.

use super::follow_up::ask;
use super::{re, Intent, OnceLock, Regex};

/// "shopping", "grocery", "groceries" → shopping; "to do" → todo; anything else as said.
fn list_name(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or("").trim();
    let raw = raw
        .trim_start_matches("my ")
        .trim_start_matches("the ")
        .trim_start_matches("our ")
        .trim();
    match raw {
        "" | "shopping" | "grocery" | "groceries" | "food" => "shopping".into(),
        "to do" | "to-do" | "todo" | "to dos" | "todos" | "things to do" => "todo".into(),
        "things to buy" | "things to get" => "shopping".into(),
        "things to pack" => "packing".into(),
        other => other.to_string(),
    }
}

/// Lists that are something else: songs, contacts, favourites, the calendar, mail.
const LISTS_ELSEWHERE: &[&str] = &[
    "play",
    "playlist",
    "song",
    "songs",
    "music",
    "contact",
    "contacts",
    "favorite",
    "favorites",
    "favourite",
    "favourites",
    "calendar",
    "email",
    "emails",
    "spotify",
    "youtube",
    "netflix",
    "pandora",
];

/// Words that say the phrase is more than a list's name ("the list of things to do", "all of
/// my lists").
const NOT_A_LIST: &[&str] = &[
    "from", "to", "of", "on", "with", "for", "this", "that", "it", "my", "all", "every", "whole",
    "entire", "the", "a", "an", "our", "your", "these", "those", "me", "us", "you", "please",
];

/// Words that say a phrase is not an item to buy or do (a meeting, a time, music, a device, a
/// pronoun for something said before).
const NOT_AN_ITEM: &[&str] = &[
    "with",
    "for",
    "at",
    "on",
    "to",
    "about",
    "from",
    "by",
    "tomorrow",
    "today",
    "tonight",
    "am",
    "pm",
    "o'clock",
    "oclock",
    "meeting",
    "appointment",
    "event",
    "events",
    "alarm",
    "alarms",
    "reminder",
    "reminders",
    "timer",
    "timers",
    "song",
    "songs",
    "music",
    "playlist",
    "album",
    "radio",
    "podcast",
    "audiobook",
    "audio",
    "calendar",
    "schedule",
    "contact",
    "contacts",
    "that",
    "this",
    "it",
    "them",
    "list",
    "lists",
    "email",
    "emails",
    "facebook",
    "twitter",
    "light",
    "lights",
    "lamp",
    "everything",
    "all",
    "item",
    "items",
    "line",
    "last",
    "first",
];

/// A list's name as said ("grocery", "a new packing"), if it is one: a few words, none of which
/// makes it something else.
pub(super) fn named_list(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw
        .strip_prefix("a new ")
        .or_else(|| raw.strip_prefix("new "))
        .or_else(|| raw.strip_prefix("a "))
        .unwrap_or(raw);
    let name = list_name(Some(raw));
    let words: Vec<&str> = name.split_whitespace().collect();
    (!words.is_empty()
        && words.len() <= 3
        && !words
            .iter()
            .any(|w| NOT_A_LIST.contains(w) || LISTS_ELSEWHERE.contains(w)))
    .then_some(name)
}

/// Whether every item of "eggs, milk and bread" is something to put on a list: a few words, none
/// of which makes it a meeting, a time or a song.
fn items_like(raw: &str) -> bool {
    let items = split_items(raw);
    !items.is_empty()
        && items.iter().all(|i| {
            let words: Vec<&str> = i.split_whitespace().collect();
            what_of(&words).len() <= 4 && !words.iter().any(|w| NOT_AN_ITEM.contains(w))
        })
}

/// The thing of a quantity ("2 pounds of ground beef" → "ground beef"), or all the words.
fn what_of<'a, 'b>(words: &'b [&'a str]) -> &'b [&'a str] {
    let quantity = words.first().is_some_and(|w| {
        w.parse::<f64>().is_ok()
            || crate::numbers::ONES.contains(w)
            || crate::numbers::TENS.contains(w)
            || matches!(*w, "a" | "an" | "half" | "dozen" | "couple" | "few")
    });
    match words.iter().position(|w| *w == "of") {
        Some(i) if quantity && (1..=3).contains(&i) => &words[i + 1..],
        _ => words,
    }
}

/// "eggs, milk and bread" → ["eggs", "milk", "bread"], articles dropped.
fn split_items(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in raw.split([',', ':']).flat_map(|p| p.split(" and ")) {
        let mut w = part.trim();
        for art in ["some ", "a ", "an ", "the ", "more "] {
            w = w.strip_prefix(art).unwrap_or(w);
        }
        let w = w.trim();
        if !w.is_empty() && !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

/// A list request about lists themselves: creating, asking, deleting, clearing.
pub(super) fn asked(t: &str) -> Option<Intent> {
    if pattern!(r"^what do (?:i|we) need(?: to (?:buy|get))?(?: from the (?:shop|store))?$")
        .is_match(t)
    {
        return Some(Intent::ShowList {
            list: "shopping".into(),
        });
    }
    if pattern!(r"^(?:(?:what|which) lists do (?:i|we) have|(?:what are|tell me|show me|read me|list) (?:all )?(?:of )?(?:my|our) lists|what lists (?:do i have|have i made|are there))$").is_match(t) {
        return Some(Intent::ListLists);
    }
    if pattern!(r"^(?:create|make|start)(?: me)? (?:a )?(?:new )?list(?: for me)?$").is_match(t) {
        return Some(ask(
            "What should I call the new list?",
            "create_list",
            "create a list called {}",
        ));
    }
    // "create a to do list for tomorrow", "a new packing list", "make a list of groceries to
    // buy": the day it is for and what its items are for are no part of its name.
    if let Some(c) = pattern!(r"^(?:(?:create|make|start)(?: me)? (?:a )?(?:new )?|(?:a )?new )(?:list (?:called|named|titled|for|of) (?:my )?(?P<l>.+?)(?: for me)?|(?P<l2>.+?) list)(?: for (?:today|tomorrow|this week|next week|the week))?$|^(?:a )?new list (?:called|named|titled) (?P<l3>.+)$").captures(t) {
        let list = named_list(
            c.name("l")
                .or(c.name("l2"))
                .or(c.name("l3"))
                .map_or("", |m| m.as_str()),
        )?;
        return Some(Intent::CreateList { list });
    }
    if let Some(list) = pattern!(r"^(?:what'?s|what is|what are|what do i have) (?:on|in) (?:my |the |our )?(?P<l>.+?) list$|^(?:read|show|tell)(?: me)? (?:what'?s on )?(?:my |the |our )?(?P<l2>.+?) list$")
        .captures(t)
        .and_then(|c| named_list(c.name("l").or(c.name("l2")).map_or("", |m| m.as_str())))
    {
        return Some(Intent::ShowList { list });
    }
    // "what did i add to my shopping list", "what's on my to do": the list read out.
    if let Some(list) = pattern!(r"^what (?:did|have) (?:i|we) (?:add|put)(?:ed)? (?:to|on|in) (?:my |the |our )?(?P<l>.+?) list$|^what'?s (?:on|in) (?:my |the |our )?(?P<l2>to ?do|todo)$")
        .captures(t)
        .and_then(|c| named_list(c.name("l").or(c.name("l2")).map_or("", |m| m.as_str())))
    {
        return Some(Intent::ShowList { list });
    }
    if let Some(i) = list_question(t) {
        return Some(i);
    }
    // "delete my packing list" (a list's own name; "remove milk from my list" is not one).
    if let Some(list) = pattern!(r"^(?:delete|remove|get rid of|erase)(?: (?:my|the|our))? (?P<l>.+?) list(?: entirely| altogether| completely)?$|^(?:delete|remove|get rid of|erase) (?:the |my |a )?list (?:called|named|titled|of) (?P<l2>.+)$")
        .captures(t)
        .and_then(|c| named_list(c.name("l").or(c.name("l2")).map_or("", |m| m.as_str())))
    {
        return Some(Intent::DeleteList { list });
    }
    if pattern!(r"^(?:delete|remove|get rid of|erase) (?:a |one )?list$").is_match(t) {
        return Some(ask(
            "Which list should I delete?",
            "delete_list",
            "delete the {} list",
        ));
    }
    // "remove everything from my shopping list", "delete all the items on the list": a bulk
    // deletion, said as one (the session asks before it clears).
    let bulk = pattern!(
        r"^(?:remove|delete|take|erase|clear|wipe|cross) (?:off |out )?(?:everything|all (?:the |of the )?(?:items|things|entries)|every (?:item|thing|entry)) (?:off|from|on|in|out of) (?:of )?(?:my |the |our )?(?:(?P<l>.+?) )?list$"
    );
    let clear = pattern!(
        r"^(?:clear|empty|erase|wipe)(?: out)? (?:my |the |our )?(?:whole |entire )?(?:(?P<l>.+?) )?list$"
    );
    if let Some(c) = bulk.captures(t).or_else(|| clear.captures(t)) {
        let list = match c.name("l") {
            Some(l) => named_list(l.as_str())?,
            None => UNNAMED_LIST.into(),
        };
        return Some(Intent::ClearList { list });
    }
    None
}

fn ask_what_to_add() -> Intent {
    ask(
        "What should I add, and to which list?",
        "add_to_list",
        "add {}",
    )
}

/// "Remove an item from my list", "add this item to the packing list": the item is asked for.
fn item_unsaid(t: &str) -> Option<Intent> {
    let c = pattern!(r"^(?P<v>remove|delete|take|cross|erase|drop|add|put|include)(?: (?:an|a|one|the|this|that|some|new))?(?: (?:item|thing|something|entry))? (?:off|from|out of|to|on|onto|in|into) (?:my |the |a |our )?(?:(?P<l>.+?) )?list$").captures(t)?;
    let list = match c.name("l") {
        Some(l) => named_list(l.as_str())?,
        None => UNNAMED_LIST.into(),
    };
    let the_list = match list.as_str() {
        UNNAMED_LIST => "the list".to_string(),
        l => format!("the {l} list"),
    };
    Some(match &c["v"] {
        "add" | "put" | "include" => ask(
            format!("What should I add to {the_list}?"),
            "add_to_list",
            format!("add {{}} to {the_list}"),
        ),
        _ => ask(
            format!("What should I take off {the_list}?"),
            "remove_from_list",
            format!("remove {{}} from {the_list}"),
        ),
    })
}

/// A list request about items: adding and removing.
pub(super) fn items(t: &str) -> Option<Intent> {
    if let Some(i) = item_unsaid(t) {
        return Some(i);
    }
    // "I got the bread, cross it off"
    if let Some(c) = pattern!(r"^(?:i )?(?:got|bought|picked up|have) (?:the |some )?(?P<i>.+?) (?:so )?(?:cross|tick|take|check|mark) (?:it|them|that) off(?: (?:my |the )?(?P<l>.+?) list)?$").captures(t) {
        let list = match c.name("l") {
            Some(l) => named_list(l.as_str())?,
            None => "shopping".into(),
        };
        return items_like(&c["i"]).then(|| Intent::RemoveItems { list, items: split_items(&c["i"]) });
    }
    if let Some(c) = pattern!(r"^(?:remove|delete|take|cross|tick|check|scratch|strike|cancel|erase|drop) (?:off |out )?(?P<i>.+?) (?:off|from|out of) (?:of )?(?:my |the |our )?(?:(?P<l>.+?) )?list$")
        .captures(t)
        .or_else(|| pattern!(r"^(?:cross|tick|check|scratch|strike) off (?P<i>.+?) (?:on|in) (?:my |the |our )?(?:(?P<l>.+?) )?list$").captures(t))
    {
        // "the list" alone: the list that holds the item.
        let list = match c.name("l") {
            Some(l) => named_list(l.as_str())?,
            None => UNNAMED_LIST.into(),
        };
        return items_like(&c["i"]).then(|| Intent::RemoveItems { list, items: split_items(&c["i"]) });
    }
    // Crossing off is list language; a bare "remove X" or "delete X" could be anything.
    if let Some(c) = pattern!(r"^(?:cross|tick|check|scratch) off (?P<i>.+)$").captures(t) {
        return items_like(&c["i"]).then(|| Intent::RemoveItems {
            list: "shopping".into(),
            items: split_items(&c["i"]),
        });
    }
    if let Some(c) =
        pattern!(r"^(?:add|put) (?:to|on) (?:my |the |our )?(?P<l>.+?) list:? (?P<i>.+)$")
            .captures(t)
    {
        let list = named_list(&c["l"])?;
        return items_like(&c["i"]).then(|| add(list, &c["i"]));
    }
    if let Some(c) = pattern!(
        r"^(?:add|put) (?P<i>.+?) (?:to|on|onto|in|into) (?:my |the |our )?(?:(?P<l>.+?) )?list(?: for (?:today|tomorrow|this week))?$"
    )
    .captures(t)
    {
        let list = match c.name("l") {
            Some(l) => named_list(l.as_str())?,
            None => "shopping".into(),
        };
        return items_like(&c["i"]).then(|| add(list, &c["i"]));
    }
    // "add butter": the shopping list, when what follows is an item ("put on some music",
    // "add a meeting with Tom" are not).
    if let Some(c) = pattern!(r"^add(?: (?P<i>.+))?$").captures(t) {
        return match c.name("i") {
            Some(i) if items_like(i.as_str()) => Some(add("shopping".into(), i.as_str())),
            Some(i) if split_items(i.as_str()).is_empty() => Some(ask_what_to_add()),
            Some(_) => None,
            None => Some(ask_what_to_add()),
        };
    }
    None
}

/// A question about a list however worded: "read the list", "check my list", "what does the
/// list contain", "how many items are on my to do list", "what is on my shopping list today",
/// "tell me what lists i have". A list said without a name ("the list", "my list") is
/// [`UNNAMED_LIST`]: the executor takes the only list there is, or asks which.
fn list_question(t: &str) -> Option<Intent> {
    // "did i make a shopping list": the list, if there is one, answers it.
    if let Some(list) = pattern!(r"^(?:did|have) (?:i|we) (?:make|made|start|started|create|created) (?:a|an|the|my|our) (?P<l>.+?) list$")
        .captures(t)
        .and_then(|c| named_list(&c["l"]))
    {
        return Some(Intent::ShowList { list });
    }
    const AFTER: &[&str] = &[
        "items", "to", "me", "contain", "contains", "for", "today", "this", "week", "are", "now",
        "right", "have", "has", "in", "it",
    ];
    let asking = pattern!(
        r"^(?:what|what's|whats|what else|which|do i have|did i|how many|tell me|read|show|give me|check|list|can i see|can i check|bring up|pull up|open|display|go through|run through|let me (?:see|hear|know)|are|is|any)\b"
    );
    if !asking.is_match(t)
        || pattern!(r"\b(?:add|put|remove|delete|clear|erase|cross|create|make|send|share|off|tick|scratch|strike|drop)\b")
            .is_match(t)
    {
        return None;
    }
    let words: Vec<&str> = t.split_whitespace().collect();
    if words.contains(&"lists") && !words.contains(&"list") {
        return Some(Intent::ListLists);
    }
    // The last "list" names it ("list the items on my shopping list").
    let at = words.iter().rposition(|w| *w == "list")?;
    if words[at + 1..].iter().any(|w| !AFTER.contains(w))
        || words[..at].iter().any(|w| LISTS_ELSEWHERE.contains(w))
    {
        return None;
    }
    // The list's name: the words between the last "my"/"the"/"our"/"on"/"of" (or the first word,
    // "read shopping list") and "list".
    let from = words[..at]
        .iter()
        .rposition(|w| matches!(*w, "my" | "the" | "our" | "on" | "of" | "this"))
        .map_or(1.min(at), |i| i + 1);
    let name = words[from..at].join(" ");
    let list = if name.is_empty() {
        UNNAMED_LIST.to_string()
    } else {
        named_list(&name)?
    };
    Some(Intent::ShowList { list })
}

/// The list of a request that names none ("read the list").
pub const UNNAMED_LIST: &str = "";

fn add(list: String, raw: &str) -> Intent {
    let items = split_items(raw);
    if items.is_empty() {
        ask_what_to_add()
    } else {
        Intent::AddItems { list, items }
    }
}
