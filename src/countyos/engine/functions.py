"""The allowlist of SQL functions a user query may call.

Owns one decision: which DuckDB functions are *pure* (their result depends only on their
arguments, the rows and the clock) and may therefore appear in user SQL. Everything else is
refused: functions that read files or the network (``read_csv``, ``glob``, ``read_blob``), run
SQL given as a string (``query``, ``query_table``, ``json_serialize_plan``), reveal or change the
session (``current_setting``, ``getvariable``, ``setseed``, ``nextval``), expose the catalog
(``duckdb_*``, ``pragma_*``, ``pg_*``, ``has_*_privilege``) or stall a worker (``sleep_ms``).

Mechanism: an *allowlist* of DuckDB function names, written out here and reviewed by hand, not a
list of known tricks. A function DuckDB gains in a new release is refused until someone adds it.
The sets are checked twice: on the sqlglot tree by ``countyos.engine.sql`` (engine-neutral) and on
DuckDB's own parse tree of the final SQL by ``countyos.engine.duckdb_verify``. A unit test walks
DuckDB's ``duckdb_functions()`` and proves no refused function is reachable through a name listed
here. This module holds data only; it must not import an engine.
"""

from __future__ import annotations

# Aggregate functions (DuckDB names and aliases).
AGGREGATE_FUNCTIONS = frozenset(
    """
    any_value approx_count_distinct approx_quantile arbitrary arg_max arg_max_null
    arg_max_nulls_last arg_min arg_min_null arg_min_nulls_last argmax argmin array_agg avg bit_and
    bit_or bit_xor bitstring_agg bool_and bool_or corr count count_if count_star countif covar_pop
    covar_samp entropy favg first fsum geomean geometric_mean group_concat histogram
    histogram_exact kahan_sum kurtosis kurtosis_pop last list listagg mad max max_by mean median min
    min_by mode product quantile quantile_cont quantile_disc regr_avgx regr_avgy regr_count
    regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy reservoir_quantile sem skewness
    stddev stddev_pop stddev_samp string_agg sum sumkahan var_pop var_samp variance wavg
    weighted_avg json_group_array json_group_object json_group_structure
    """.split()
)

# Window-only functions.
WINDOW_FUNCTIONS = frozenset(
    """
    cume_dist dense_rank fill first_value lag last_value lead nth_value ntile percent_rank rank
    rank_dense row_number
    """.split()
)

# Scalar functions: arithmetic and maths.
_MATH = """
    abs acos acosh add asin asinh atan atan2 atanh bit_count cbrt ceil ceiling cos cosh cot degrees
    divide even exp factorial fdiv floor fmod gamma gcd greatest greatest_common_divisor isfinite
    isinf isnan lcm least least_common_multiple lgamma ln log log10 log2 mod multiply nextafter pi
    pow power radians random round round_even roundbankers sign signbit sin sinh sqrt subtract tan
    tanh trunc xor equi_width_bins
"""

# Scalar functions: text, patterns, encodings, hashes.
_TEXT = """
    ascii bar base64 bin bit_length char_length character_length chr concat concat_ws contains
    damerau_levenshtein decode editdist3 encode ends_with format format_bytes
    formatreadabledecimalsize formatreadablesize from_base64 from_binary from_hex hamming hash hex ilike_escape instr jaccard
    jaro_similarity jaro_winkler_similarity lcase left left_grapheme len length length_grapheme
    levenshtein like_escape lower lpad ltrim md5 md5_number md5_number_lower md5_number_upper
    mismatches nfc_normalize not_ilike_escape not_like_escape octet_length ord overlay
    parse_formatted_bytes position prefix printf regexp_escape regexp_extract regexp_extract_all
    regexp_full_match regexp_matches regexp_replace regexp_split_to_array repeat replace reverse
    right right_grapheme rpad rtrim sha1 sha256 split split_part starts_with str_split
    str_split_regex string_split string_split_regex string_to_array strip_accents strlen strpos
    substr substring substring_grapheme suffix to_base to_base64 to_binary to_hex translate trim
    ucase unbin unhex unicode upper url_decode url_encode uuid gen_random_uuid uuidv4 uuidv7
    uuid_extract_timestamp uuid_extract_version
"""

# Scalar functions: dates, times, intervals.
_TEMPORAL = """
    age ago century current_date current_localtime current_localtimestamp date_add date_diff
    date_part date_sub date_trunc datediff datepart datesub datetrunc day dayname dayofmonth
    dayofweek dayofyear days_in_month decade epoch epoch_ms epoch_ns epoch_us era get_current_time
    get_current_timestamp hour isodow isoyear julian last_day make_date make_time make_timestamp
    make_timestamp_ms make_timestamp_ns make_timestamptz microsecond millennium millisecond minute
    month monthname nanosecond normalized_interval now quarter second strftime strptime time_bucket
    timezone timezone_hour timezone_minute to_centuries to_days to_decades to_hours
    to_microseconds to_millennia to_milliseconds to_minutes to_months to_quarters to_seconds
    to_timestamp to_weeks to_years today transaction_timestamp try_strptime week weekday
    weekofyear year yearweek
"""

# Scalar functions: lists, arrays, maps, structs, unions, enums, JSON, types.
_NESTED = """
    aggregate array_aggr array_aggregate array_append array_apply array_cat array_concat
    array_contains array_cosine_distance array_cosine_similarity array_cross_product
    array_distance array_distinct array_dot_product array_extract array_filter array_grade_up
    array_has array_has_all array_has_any array_indexof array_inner_product array_intersect
    array_length array_negative_dot_product array_negative_inner_product array_pop_back
    array_pop_front array_position array_prepend array_push_back array_push_front array_reduce
    array_resize array_reverse array_reverse_sort array_select array_slice array_sort
    array_to_json array_to_string array_transform array_unique array_value array_where array_zip
    cardinality element_at filter flatten generate_series grade_up list_aggr list_aggregate
    list_any_value list_append list_apply list_approx_count_distinct list_avg list_bit_and
    list_bit_or list_bit_xor list_bool_and list_bool_or list_cat list_concat list_contains
    list_cosine_distance list_cosine_similarity list_count list_distance list_distinct
    list_dot_product list_element list_entropy list_extract list_filter list_first list_grade_up
    list_has list_has_all list_has_any list_histogram list_indexof list_inner_product
    list_intersect list_kurtosis list_kurtosis_pop list_last list_mad list_max list_median
    list_min list_mode list_negative_dot_product list_negative_inner_product list_pack
    list_position list_prepend list_product list_reduce list_resize list_reverse
    list_reverse_sort list_select list_sem list_skewness list_slice list_sort list_stddev_pop
    list_stddev_samp list_string_agg list_sum list_transform list_unique list_value list_var_pop
    list_var_samp list_where list_zip range reduce unnest
    map map_concat map_contains map_contains_entry map_contains_value map_entries map_extract
    map_extract_value map_from_entries map_keys map_values
    row struct_concat struct_contains struct_extract struct_extract_at struct_has struct_indexof
    struct_insert struct_keys struct_pack struct_position struct_update struct_values
    union_extract union_tag union_value enum_code enum_first enum_last enum_range
    enum_range_boundary
    json json_array json_array_length json_contains json_exists json_extract json_extract_path
    json_extract_path_text json_extract_string json_keys json_merge_patch json_object json_pretty
    json_quote json_structure json_transform json_transform_strict json_type json_valid
    json_value from_json from_json_strict to_json row_to_json
    typeof
"""

# Scalar functions: conditionals.
_CONDITIONAL = """
    coalesce ifnull if nullif constant_or_null try
"""

SCALAR_FUNCTIONS = frozenset((_MATH + _TEXT + _TEMPORAL + _NESTED + _CONDITIONAL).split())

# Table functions allowed in FROM: pure row generators over their arguments; none reads storage.
TABLE_FUNCTIONS = frozenset(
    """
    range generate_series unnest generate_subscripts repeat json_each json_tree
    """.split()
)

# Operators as DuckDB's parser names them (they appear as functions in its parse tree).
OPERATORS = frozenset(
    [
        "+", "-", "*", "/", "//", "%", "**", "^", "&", "|", "<<", ">>", "~", "!__postfix",
        "||", "~~", "!~~", "~~*", "!~~*", "~~~", "^@", "@>", "<@", "&&", "->>", "->", "<->",
        "@", "=", "!=", "<>", "<", ">", "<=", ">=", "<=>",
    ]
)

#: Every function name a user query may call (lowercase, DuckDB spelling).
ALLOWED_FUNCTIONS = AGGREGATE_FUNCTIONS | WINDOW_FUNCTIONS | SCALAR_FUNCTIONS | TABLE_FUNCTIONS


def is_allowed_function(name: str) -> bool:
    """Whether a (scalar, aggregate or window) function may be called in user SQL.

    Args:
        name: the function name as written or as DuckDB's parser reports it; compared
            case-insensitively.

    Returns:
        True for a function on the allowlist or an operator.
    """
    lowered = name.lower()
    return lowered in ALLOWED_FUNCTIONS or lowered in OPERATORS


def is_allowed_table_function(name: str) -> bool:
    """Whether a table function may appear in FROM (a pure row generator such as ``range``)."""
    return name.lower() in TABLE_FUNCTIONS
