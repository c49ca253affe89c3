"""Interface labels, Persian first, English on ``?lang=en``."""
from __future__ import annotations

LANGUAGES = ("fa", "en")
DEFAULT_LANGUAGE = "fa"
DIRECTION = {"fa": "rtl", "en": "ltr"}

_PERSIAN_DIGITS = str.maketrans("0123456789.", "۰۱۲۳۴۵۶۷۸۹٫")

LABELS: dict[str, dict[str, str]] = {
    "fa": {
        "site": "کاوش",
        "tagline": "جست‌وجوی معنایی در اخبار، به فارسی و انگلیسی",
        "query_label": "عبارت جست‌وجو",
        "placeholder": "مثلاً: تورم سالانه یا dust storm in Ahvaz",
        "search": "جست‌وجو",
        "category": "دسته",
        "all_categories": "همه دسته‌ها",
        "found": "{total} نتیجه، در {ms} میلی‌ثانیه",
        "no_results": "نتیجه‌ای برای «{q}» پیدا نشد. عبارت دیگری را امتحان کنید یا دسته را بردارید.",
        "empty_query": "عبارتی بنویسید و جست‌وجو کنید؛ فارسی یا انگلیسی، هر دو پذیرفته است.",
        "index_missing_title": "نمایه هنوز ساخته نشده است",
        "index_missing": "پیش از جست‌وجو باید نمایه ساخته شود. راهبر سامانه می‌تواند آن را با این دستور بسازد:",
        "index_unavailable_title": "نمایه در دسترس نیست",
        "index_unavailable": "نمایه قابل استفاده نیست (ناقص، در حال بازسازی یا ساخته‌شده با مدل دیگر). گزارش سرور جزئیات را دارد.",
        "bad_request": "درخواست نادرست است:",
        "too_long": "عبارت جست‌وجو {n} نویسه است؛ حداکثر {max} نویسه پذیرفته می‌شود. آن را کوتاه‌تر کنید.",
        "unknown_category": "دسته «{cat}» وجود ندارد؛ یکی از دسته‌های فهرست را برگزینید.",
        "bad_page": "شمارهٔ صفحه باید عددی از ۱ تا {max} باشد.",
        "score": "امتیاز شباهت",
        "untitled": "(بدون عنوان)",
        "unsafe_link": "پیوند این خبر نامعتبر است و نمایش داده نمی‌شود.",
        "results": "نتایج",
        "pagination": "صفحه‌ها",
        "previous": "قبلی",
        "next": "بعدی",
        "page": "صفحه {n}",
        "switch_language": "English",
        "not_found": "این صفحه پیدا نشد.",
        "method_not_allowed": "این نوع درخواست برای این نشانی پذیرفته نیست.",
        "server_error": "خطایی در سرور رخ داد. دوباره تلاش کنید.",
        "back_home": "بازگشت به جست‌وجو",
        "best_matches": "نزدیک‌ترین نتیجه‌ها ({total} خبر، به ترتیب شباهت)، در {ms} میلی‌ثانیه",
        "bad_date": "تاریخ را به شکل ۱۴۰۲/۰۵/۱۲ (خورشیدی) یا 2023-08-03 (میلادی) بنویسید.",
        "date_from": "از تاریخ",
        "date_to": "تا تاریخ",
        "date_placeholder": "۱۴۰۲/۰۱/۰۱",
        "showing_results_for": "نتیجه‌ها برای «{searched}»",
        "search_instead": "جست‌وجوی همان «{typed}»",
        "layout_note": "به نظر می‌رسد زبان صفحه‌کلید هنگام نوشتن اشتباه بوده است.",
        "facet_category": "دسته‌ها",
        "facet_year": "سال‌ها",
        "facets": "پالایش نتیجه‌ها",
        "read_article": "متن کامل",
        "source_link": "خبر در وب‌گاه منبع",
        "similar": "خبرهای مشابه",
        "duplicates": "همین خبر، دوباره منتشرشده",
        "matched_note": "بخش‌هایی که با «{q}» جور بودند نشانه‌گذاری شده‌اند.",
        "back_to_results": "بازگشت به نتیجه‌ها",
        "no_article": "این خبر در نمایه نیست.",
    },
    "en": {
        "site": "Kavosh",
        "tagline": "Semantic news search, in Persian and English",
        "query_label": "Search query",
        "placeholder": "e.g. annual inflation, or توفان گرد و خاک اهواز",
        "search": "Search",
        "category": "Category",
        "all_categories": "All categories",
        "found": "{total} results · {ms} ms",
        "no_results": "Nothing found for “{q}”. Try other words or remove the category filter.",
        "empty_query": "Type a query and search; Persian and English both work.",
        "index_missing_title": "The index is not built yet",
        "index_missing": "The search index must be built before searching. An administrator can build it with:",
        "index_unavailable_title": "The index is unavailable",
        "index_unavailable": "The index cannot be used (incomplete, being rebuilt, or built with another model). The server log has the details.",
        "bad_request": "The request is not valid:",
        "too_long": "The query is {n} characters long; at most {max} are accepted. Please shorten it.",
        "unknown_category": "There is no category “{cat}”; pick one from the list.",
        "bad_page": "The page number must be a whole number from 1 to {max}.",
        "score": "similarity score",
        "untitled": "(untitled)",
        "unsafe_link": "This article's link is not a web address and is not shown as a link.",
        "results": "Results",
        "pagination": "Pages",
        "previous": "Previous",
        "next": "Next",
        "page": "Page {n}",
        "switch_language": "فارسی",
        "not_found": "This page does not exist.",
        "method_not_allowed": "This kind of request is not accepted at this address.",
        "server_error": "Something went wrong on the server. Please try again.",
        "back_home": "Back to search",
        "best_matches": "Best matches ({total} articles, most similar first) · {ms} ms",
        "bad_date": "Write dates as 2023-08-03 (Gregorian) or 1402/05/12 (Solar Hijri).",
        "date_from": "From",
        "date_to": "To",
        "date_placeholder": "2024-03-20",
        "showing_results_for": "Showing results for “{searched}”",
        "search_instead": "Search instead for “{typed}”",
        "layout_note": "The query looks typed with the keyboard set to the other language.",
        "facet_category": "Categories",
        "facet_year": "Years",
        "facets": "Narrow the results",
        "read_article": "Full article",
        "source_link": "Article on the source site",
        "similar": "Similar articles",
        "duplicates": "The same story, published again",
        "matched_note": "The passages that matched “{q}” are highlighted.",
        "back_to_results": "Back to the results",
        "no_article": "There is no such article in the index.",
    },
}


def pick_language(value: str | None) -> str:
    """``fa`` unless ``en`` is asked for (anything unknown falls back to Persian)."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def digits(value: object, lang: str) -> str:
    """A number written with Persian digits in the Persian interface."""
    text = str(value)
    return text.translate(_PERSIAN_DIGITS) if lang == "fa" else text
