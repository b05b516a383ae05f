"""What the README promises, mapped to the tests that prove it.

Every setting of `Settings` (each `LLMGATEWAY_*` variable), every `x-llmgateway-*` header and
every behaviour listed below names at least one test that fails when it breaks; this module
checks that the map is complete and that each test it names exists. Adding a setting, a
header or a claim without its test turns this red. (`bench/breakages.py` shows, for the
claims most easily broken unseen, that their tests do go red.)
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from llmgateway.settings import Settings
from tests.conftest import served
from tests.emulators.openai import OpenAIEmulator

ROOT = Path(__file__).resolve().parent.parent

SETTINGS_PROVEN_BY: dict[str, tuple[str, ...]] = {
    "host": ("test_serve_cli.py::test_serve_takes_host_port_and_workers_from_the_environment",),
    "port": ("test_serve_cli.py::test_serve_takes_host_port_and_workers_from_the_environment",),
    "workers": ("test_serve_cli.py::test_serve_takes_host_port_and_workers_from_the_environment",
                "test_tracking.py::test_a_session_is_the_same_in_every_gateway_process"),
    "log_level": ("test_key_scrubbing.py::test_keys_quoted_by_vendors_go_nowhere",),
    "access_log": ("test_observability.py::test_access_log_is_one_json_line_per_request_without_contents",
                   "test_observability.py::test_access_lines_of_a_turn_leave_at_its_end_in_whole_lines_no_write_past_pipe_buf"),
    "access_log_contents": ("test_observability.py::test_access_log_carries_contents_only_when_asked",),
    "otel_enabled": ("test_observability.py::test_no_spans_unless_tracing_is_enabled",
                     "test_observability.py::test_traces_have_a_span_per_request_and_per_attempt"),
    "master_key": ("test_resilience.py::test_master_key",),
    "allow_client_keys": ("test_resilience.py::test_client_keys_can_be_refused",),
    "cors_origins": ("test_resilience.py::test_cors_is_off_by_default_and_configurable",),
    "max_body_bytes": ("test_engine_api.py::test_body_over_the_limit_is_413",),
    "max_messages": ("test_resilience.py::test_request_bounds_are_422_naming_the_limit",
                     "test_bounds.py::test_session_history_counts_against_the_message_limit"),
    "max_message_chars": ("test_resilience.py::test_request_bounds_are_422_naming_the_limit",),
    "max_tools": ("test_resilience.py::test_request_bounds_are_422_naming_the_limit",),
    "max_json_depth": ("test_resilience.py::test_request_bounds_are_422_naming_the_limit",),
    "max_header_bytes": ("test_bounds.py::test_a_head_past_its_bound_gets_a_431",),
    "body_timeout_s": ("test_bounds.py::test_a_body_that_trickles_in_is_cut_with_a_408",),
    "connect_timeout_s": ("test_resilience.py::test_broken_upstreams",),
    "first_token_timeout_s": ("test_resilience.py::test_the_first_token_timeout_setting_applies_to_every_request",),
    "request_timeout_s": ("test_resilience.py::test_slow_drip_is_cut_at_the_total_timeout",
                          "test_engine_api.py::test_upstream_that_stalls_is_cut_at_the_request_timeout"),
    "default_retries": ("test_resilience.py::test_the_default_retries_apply_to_a_request_that_names_none",),
    "max_attempts": ("test_bounds.py::test_upstream_attempts_are_bounded_whatever_retries_and_fallbacks_ask",),
    "retry_backoff_base_s": ("test_resilience.py::test_retry_after_sets_the_backoff_up_to_the_cap",),
    "retry_backoff_max_s": ("test_resilience.py::test_retry_after_sets_the_backoff_up_to_the_cap",
                            "test_one_exit.py::test_backoff_never_sleeps_past_the_deadline"),
    "cooldown_failures": ("test_resilience.py::test_route_skips_a_cooling_deployment",
                          "test_resilience.py::test_a_deployment_cools_down_for_its_time_then_returns"),
    "cooldown_s": ("test_resilience.py::test_a_deployment_cools_down_for_its_time_then_returns",),
    "cache": ("test_cache.py::test_a_repeat_is_a_hit_that_costs_nothing_and_saves_the_original_cost",
              "test_cache.py::test_purging_a_cache_that_is_off_is_a_clear_400"),
    "cache_ttl_s": ("test_cache.py::test_the_default_ttl_comes_from_the_settings",),
    "cache_max_bytes": ("test_cache.py::test_the_memory_cache_takes_its_bound_from_the_settings",
                        "test_cache.py::test_the_memory_store_keeps_to_its_byte_bound_least_recent_first"),
    "cache_any_temperature": ("test_cache.py::test_a_sampled_answer_is_cached_only_when_asked",),
    "redis_url": ("test_many_instances.py::test_three_instances_share_sessions_cooldowns_and_one_log",
                  "test_many_instances.py::test_redis_down_mid_run_fails_no_request_and_comes_back"),
    "limits_without_redis": ("test_governance.py::test_limits_with_redis_down_follow_the_operators_choice",),
    "redis_prefix": ("test_many_instances.py::test_a_prefix_keeps_gateways_on_one_redis_apart",),
    "redis_timeout_s": ("test_many_instances.py::test_a_redis_that_never_answers_holds_nothing_up",),
    "catalog": ("test_resilience.py::test_route_balances_by_weight_over_keys_and_deployments",),
    "tracking_enabled": ("test_tracking.py::test_tracking_off_answers_but_keeps_no_log",),
    "database_url": ("test_tracking.py::test_sessions_carry_context_across_turns_and_restarts",),
    "tracking_queue_size": ("test_tracking.py::test_the_writer_takes_its_bounds_from_the_settings",),
    "tracking_batch_size": ("test_tracking.py::test_the_writer_inserts_in_batches_of_the_set_size",),
    "tracking_flush_interval_s": ("test_tracking.py::test_the_writer_inserts_in_batches_of_the_set_size",),
    "tracking_spill_path": ("test_crash_durability.py::test_full_disk_holds_records_in_memory_then_stores_them",),
    "tracking_dead_letter_path": ("test_hostile_records.py::test_hostile_requests_through_the_gateway_keep_the_log_running",),
    "tracking_journal_dir": ("test_crash_durability.py::test_kill_9_under_load_loses_no_answered_request",),
    "tracking_buffer_records": ("test_tracking.py::test_the_writer_takes_its_bounds_from_the_settings",
                                "test_crash_durability.py::test_full_disk_holds_records_in_memory_then_stores_them"),
    "session_cache_bytes": ("test_bounds.py::test_session_cache_is_bounded_in_bytes",),
    "drain_s": ("test_serve_cli.py::test_sigterm_turns_readiness_off_while_it_still_serves_then_exits",),
    "shutdown_grace_s": ("test_serve_cli.py::test_shutdown_grace_cuts_what_is_still_running_and_records_it",
                         "test_shutdown_and_secrets.py::test_sigterm_under_load_loses_no_record"),
}  # fmt: skip

HEADERS_PROVEN_BY = ("test_openai_compat.py::test_sdk_non_streaming",)

BEHAVIOURS_PROVEN_BY: dict[str, tuple[str, ...]] = {
    "retries honour Retry-After, capped": ("test_resilience.py::test_retry_after_sets_the_backoff_up_to_the_cap",),
    "retries on 408, 409, 429 and 5xx, never on other 4xx": ("test_resilience.py::test_which_vendor_statuses_are_retried",),
    "fallbacks, and a route's own fallbacks": ("test_resilience.py::test_a_routes_own_fallbacks_serve_when_its_deployments_fail",
                                               "test_one_exit.py::test_backoff_never_sleeps_past_the_deadline"),
    "routes balance by weight, skip cooling deployments, from both APIs": (
        "test_resilience.py::test_route_balances_by_weight_over_keys_and_deployments",
        "test_resilience.py::test_route_skips_a_cooling_deployment",
        "test_resilience.py::test_a_route_is_reachable_from_both_apis"),
    "tool choice, JSON mode and image URLs in each vendor's words": (
        "test_vendor_translation.py::test_tool_choice_in_each_vendors_words",
        "test_vendor_translation.py::test_json_mode_in_each_vendors_words",
        "test_vendor_translation.py::test_image_urls_reach_the_vendor"),
    "Gemini's assistant role is model": ("test_vendor_translation.py::test_gemini_hears_the_assistant_as_model",),
    "/metrics behind the master key": ("test_resilience.py::test_master_key",),
    "OpenTelemetry spans and their attributes": ("test_observability.py::test_traces_have_a_span_per_request_and_per_attempt",),
    "Prometheus series, and counts that agree with the log and /stats": (
        "test_observability.py::test_metrics_series_move_after_requests",
        "test_one_exit.py::test_prometheus_stats_and_the_log_count_the_same_requests"),
    "requests refused before a vendor call are recorded": (
        "test_tracking.py::test_requests_refused_before_any_vendor_call_are_recorded",),
    "SQLite in WAL mode": ("test_tracking.py::test_sqlite_runs_in_wal_mode",),
    "batch_chat's concurrency bound": ("test_client_and_cli.py::test_batch_chat_keeps_order_and_failures",),
    "--workers and several instances share sessions": ("test_tracking.py::test_a_session_is_the_same_in_every_gateway_process",),
    "stats and timeseries, exact": ("test_tracking.py::test_stats_and_timeseries_are_exact",),
    "embeddings through the one pipeline": ("test_one_exit.py::test_embeddings_take_the_one_pipeline",),
    "a client that leaves cancels the upstream call": (
        "test_one_exit.py::test_a_client_that_leaves_before_the_first_byte_cancels_the_upstream_call",
        "test_one_exit.py::test_a_client_that_leaves_mid_stream_closes_the_upstream_stream",
        "test_departures.py::test_a_cancel_from_elsewhere_goes_on_while_the_client_stays",
        "test_http_protocol.py::test_a_lost_connection_tells_the_request_its_client_left"),
    "a connection's writes of one turn leave in one send; a complete answer at once; flow control kept": (
        "test_http_protocol.py::test_a_json_answer_leaves_in_one_send",
        "test_http_protocol.py::test_chunks_ready_together_leave_together_each_framed_on_its_own",
        "test_http_protocol.py::test_a_complete_answer_leaves_before_the_work_after_it",
        "test_http_protocol.py::test_a_large_answer_is_not_held_whole_so_flow_control_still_works"),
    "SIGTERM finishes what is in flight and refuses what comes after": (
        "test_shutdown_and_secrets.py::test_sigterm_under_load_loses_no_record",),
    "kill -9 loses no answered request": ("test_crash_durability.py::test_kill_9_under_load_loses_no_answered_request",),
    "a database outage loses nothing": ("test_tracking.py::test_database_outage_spills_then_replays",
                                        "test_tracking.py::test_shutdown_with_the_database_down_spills_what_is_queued"),
    "odd vendor streams get a typed error and one record": (
        "test_one_exit.py::test_generated_upstream_streams_never_get_an_untyped_5xx",
        "test_one_exit.py::test_a_negative_token_count_is_an_unreadable_answer"),
    "the mock provider answers offline, scripted by its parameters": (
        "test_mock_provider.py::test_echo_answers_the_user_with_word_tokens_zero_cost_and_a_record",
        "test_mock_provider.py::test_error_status_fails_as_that_vendor_status_would",
        "test_mock_provider.py::test_stream_error_after_breaks_the_stream_with_an_error_event"),
    "vendor SDKs load after start, only for configured providers": (
        "test_serve_cli.py::test_start_loads_no_sdk_and_warms_only_configured_providers_afterwards",),
    "a start banner says where to go and what is ready": (
        "test_serve_cli.py::test_start_banner_says_where_to_go_what_is_ready_and_where_records_go",),
    "/docs works without a network, / leads to the dashboard": (
        "test_dashboard_browser.py::test_api_docs_render_with_the_network_cut_off",),
    "Bedrock and Vertex AI are ready only with a credential source": (
        "test_core_units.py::test_bedrock_is_ready_only_when_its_credential_chain_has_a_source",
        "test_core_units.py::test_vertex_is_ready_only_with_application_default_credentials"),
    "upstream calls: no redirect followed, no cookie kept, the environment's proxy taken": (
        "test_client_input_channel.py::test_an_upstream_redirect_is_not_followed_with_the_key",
        "test_client_input_channel.py::test_a_cookie_a_vendor_sets_is_never_sent_back",
        "test_client_input_channel.py::test_the_upstream_call_goes_through_the_operators_proxy"),
    "the SDK prepares each endpoint's URL, auth and headers once; nothing of one request is kept": (
        "test_upstream_endpoints.py::test_openai_prepares_its_url_key_and_headers_once",
        "test_upstream_endpoints.py::test_azure_names_the_deployment_and_version_and_sends_its_api_key",
        "test_upstream_endpoints.py::test_an_idempotency_key_the_sdk_adds_is_not_kept_for_later_calls"),
    "the chat routes, served outside FastAPI's handler, refuse bodies as FastAPI did and record them": (
        "test_chat_routes.py::test_a_refused_body_is_answered_as_fastapi_answered_it",
        "test_chat_routes.py::test_a_refusal_is_recorded_with_the_provider_its_path_names"),
    "/health/ready answers 503 warming until the warm-up is over; /health/live does not wait": (
        "test_serve_cli.py::test_readiness_waits_for_the_warm_up_while_liveness_does_not",),
    "the warm-up makes the process's one TLS context, not the first request": (
        "test_serve_cli.py::test_the_warm_up_makes_the_one_tls_context_so_the_first_request_reads_no_ca_bundle",),
    "once warm, the start-up heap is frozen out of the collector's generations": (
        "test_serve_cli.py::test_once_warm_the_start_up_heap_is_frozen",),
    "SQLite takes a batch of records in one statement, split at its placeholder limit": (
        "test_tracking.py::test_a_batch_goes_to_the_sqlite_file_in_one_statement",
        "test_tracking.py::test_a_batch_past_sqlites_placeholder_limit_is_split",
        "test_tracking.py::test_a_record_twice_in_one_batch_is_stored_once_as_last_written"),
    "the request log's ids are UUIDv7, in the order the requests came": (
        "test_tracking.py::test_record_ids_are_uuid7_in_the_order_the_requests_came",
        "test_tracking.py::test_a_call_id_carries_the_millisecond_it_was_made_and_sorts_after_earlier_ones"),
    "on SQLite the log's async engine waits for its first use; with virtual keys, for the warm-up": (
        "test_serve_cli.py::test_start_loads_no_sdk_and_warms_only_configured_providers_afterwards",
        "test_serve_cli.py::test_with_virtual_keys_the_warm_up_makes_the_logs_async_engine"),
    "serve loads neither the client's httpx nor websockets": (
        "test_serve_cli.py::test_serve_loads_neither_the_clients_http_library_nor_websockets",),
    "an unreachable upstream is named by its origin": (
        "test_engine_api.py::test_an_unreachable_upstream_is_named_by_its_origin_only",),
    "the cache: hits cost nothing and save the original cost; streamed hits replay the same chunks": (
        "test_cache.py::test_a_repeat_is_a_hit_that_costs_nothing_and_saves_the_original_cost",
        "test_cache.py::test_a_streamed_hit_sends_the_same_chunks",
        "test_cache.py::test_a_streamed_tool_call_is_replayed_fragment_by_fragment"),
    "the cache key holds everything that changes the answer, the tenant included": (
        "test_cache.py::test_what_changes_the_answer_changes_the_key",),
    "failed or cancelled answers are never cached; Redis down is a bypass": (
        "test_cache.py::test_failed_and_cancelled_answers_are_never_stored",
        "test_cache.py::test_redis_down_is_a_bypass_never_a_failure"),
    "cache hits are recorded, counted, shown and purgeable": (
        "test_cache.py::test_hits_are_recorded_counted_and_purged",
        "test_dashboard_browser.py::test_overview_shows_the_cache_hit_rate_and_what_it_saved"),
    "virtual keys: stored as keyed hashes, carried by records, refused when bad, limited to models": (
        "test_governance.py::test_a_key_opens_both_apis_and_its_requests_carry_it",
        "test_governance.py::test_a_bad_key_is_a_401_and_recorded",
        "test_governance.py::test_a_key_may_use_only_its_models_and_not_the_admin_api"),
    "requests a minute per key and team, exact on one instance and on three": (
        "test_governance.py::test_requests_a_minute_hold_exactly_on_one_instance",
        "test_governance.py::test_a_teams_limit_counts_all_its_keys",
        "test_governance.py::test_three_instances_hold_the_limit_exactly_and_revoke_at_once"),
    "keys and teams from the CLI": ("test_governance.py::test_keys_and_teams_from_the_cli",),
    "a rotated key's old value works for its grace only": ("test_governance.py::test_a_rotated_key_keeps_its_old_value_for_the_grace_only",),
    "spend reports per key, team, model and day; team spend in Prometheus": (
        "test_governance.py::test_spend_reports_per_key_team_model_and_day_and_per_team_in_prometheus",),
    "budgets hold exactly under concurrency, on one instance and three; failures cost nothing; spend survives restarts": (
        "test_governance.py::test_a_budget_holds_exactly_under_concurrency_on_one_instance",
        "test_governance.py::test_a_budget_holds_exactly_on_three_instances",
        "test_governance.py::test_a_burst_on_a_new_ledger_reads_the_request_log_once",
        "test_governance.py::test_a_team_over_budget_refuses_its_keys_and_failures_cost_nothing",
        "test_governance.py::test_spend_survives_a_restart"),
    "README snippets run as pasted": ("test_claims.py::test_readme_python_snippets_run_as_pasted",),
    "instances share sessions, cooldowns and one log; SIGTERM to one fails nothing elsewhere": (
        "test_many_instances.py::test_three_instances_share_sessions_cooldowns_and_one_log",),
    "Redis down: no request fails, readiness says so, sharing resumes": (
        "test_many_instances.py::test_redis_down_mid_run_fails_no_request_and_comes_back",),
    "the Dockerfile keeps records in a volume, checks health on its port, stops within docker's grace": (
        "test_dockerfile.py::test_records_go_to_a_volume_that_the_user_owns",
        "test_dockerfile.py::test_health_check_follows_the_configured_port",
        "test_dockerfile.py::test_shutdown_grace_is_under_docker_stops_timeout"),
    "tokens a minute and concurrent requests hold exactly, settled to the vendor's count, on one instance and three": (
        "test_governance.py::test_tokens_a_minute_and_concurrency_hold_exactly_on_one_instance",
        "test_governance.py::test_tokens_a_minute_and_concurrency_hold_exactly_on_three_instances",
        "test_governance.py::test_a_teams_tokens_count_all_its_keys_and_answers_say_what_is_left"),
    "a key's retries and timeout are its requests' default and most": (
        "test_governance.py::test_a_keys_retries_and_timeout_are_its_requests_default_and_most",),
    "the dashboard's keys and spend page: teams, keys, limits, budgets used, spend per key and team per day": (
        "test_dashboard_browser.py::test_keys_page_gives_a_team_keys_limits_and_a_budget_and_charts_their_spend",
        "test_dashboard_browser.py::test_keys_page_says_what_keys_need_without_a_master_key"),
    "the dashboard's charts come from the package (Chart.js) and label every bucket": (
        "test_dashboard_browser.py::test_pages_load_without_console_errors",
        "test_dashboard_browser.py::test_api_docs_render_with_the_network_cut_off"),
    "/v1/messages speaks Anthropic's Messages API in front of every provider, streamed in its event order": (
        "test_client_surfaces.py::test_messages_create_through_every_provider",
        "test_client_surfaces.py::test_messages_stream_in_anthropics_event_order",
        "test_client_surfaces.py::test_messages_tool_use_round_trip",
        "test_client_surfaces.py::test_langchain_chat_anthropic_through_the_gateway"),
    "reasoning the upstream streams reaches Messages clients as thinking blocks": (
        "test_client_surfaces.py::test_thinking_reaches_messages_clients_as_thinking_blocks",),
    "/v1/messages translates blocks, tools and sampling for other vendors": (
        "test_client_surfaces.py::test_messages_translation_reaches_an_openai_upstream",),
    "an Anthropic target gets the Messages client's own body": (
        "test_client_surfaces.py::test_messages_reach_anthropic_as_the_client_sent_them",
        "test_client_surfaces.py::test_a_claude_code_request_replays_through_the_gateway"),
    "a Messages client's anthropic-beta picks among the catalog's allowed betas only": (
        "test_client_surfaces.py::test_only_allowed_betas_reach_anthropic",
        "test_client_surfaces.py::test_a_claude_code_request_replays_through_the_gateway"),
    "parallel tool calls stream one block (or output item) after the other, each whole": (
        "test_client_surfaces.py::test_a_claude_code_request_replays_through_the_gateway",
        "test_client_surfaces.py::test_parallel_function_calls_stream_one_item_after_the_other"),
    "/v1/messages answers errors in Anthropic's shape, before and during a stream": (
        "test_client_surfaces.py::test_messages_errors_in_anthropics_shape",
        "test_client_surfaces.py::test_messages_refusals_by_virtual_key_in_anthropics_shape"),
    "/v1/messages/count_tokens is an estimate, flagged": (
        "test_client_surfaces.py::test_count_tokens_is_an_estimate_and_says_so",),
    "/v1/responses speaks OpenAI's Responses API in front of every provider, streamed in its event order": (
        "test_client_surfaces.py::test_responses_create_through_every_provider",
        "test_client_surfaces.py::test_responses_stream_in_openais_event_order",
        "test_client_surfaces.py::test_responses_function_call_round_trip",
        "test_client_surfaces.py::test_responses_structured_output_and_instructions_translate_for_chat_completions"),
    "structured output reaches Anthropic (output_config.format) and Gemini in their words": (
        "test_client_surfaces.py::test_responses_structured_output_reaches_other_vendors_in_their_words",
        "test_provider_scenarios.py::test_structured_output"),
    "OpenAI gets a Responses client's own body at /responses": (
        "test_client_surfaces.py::test_responses_reach_openai_as_the_client_sent_them",
        "test_emulators.py::test_openai_sdk_reads_the_responses_emulator_streaming_and_not"),
    "previous_response_id and GET /v1/responses/{id} from the request log, on any instance": (
        "test_client_surfaces.py::test_previous_response_id_and_get_work_across_instances",),
    "store: false keeps no content": ("test_client_surfaces.py::test_store_false_keeps_no_content",),
    "four surfaces, one pipeline: the same answer, metrics and records differing only in surface": (
        "test_client_surfaces.py::test_four_surfaces_one_answer_four_records",),
}  # fmt: skip


def _test_functions() -> set[str]:
    found = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                found.add(f"{path.name}::{node.name}")
    return found


def test_every_setting_names_a_test() -> None:
    assert sorted(set(Settings.model_fields) - set(SETTINGS_PROVEN_BY)) == []
    assert sorted(set(SETTINGS_PROVEN_BY) - set(Settings.model_fields)) == []


def test_every_variable_the_readme_names_is_a_setting() -> None:
    named = set(re.findall(r"LLMGATEWAY_([A-Z_]+[A-Z])", (ROOT / "README.md").read_text()))
    # the client's and the CLI's address of a gateway; where the browser tests save screenshots
    named -= {"URL", "SCREENSHOTS"}
    assert sorted(name.lower() for name in named if name.lower() not in Settings.model_fields) == []


DOCUMENTED_HEADERS = ("latency-s", "time-to-first-token-s", "inter-token-latency-s", "tokens-per-second",
                      "input-tokens", "output-tokens", "cost-usd", "tokens-estimated", "provider", "request-id")  # fmt: skip


def test_every_documented_header_is_read_by_its_test() -> None:
    readme = (ROOT / "README.md").read_text()
    source = (ROOT / "tests" / "test_openai_compat.py").read_text()
    for header in DOCUMENTED_HEADERS:
        assert f"-{header}`" in readme, header
        assert f'"x-llmgateway-{header}"' in source or f'"{header.replace("-", "_")}"' in source, header


def test_every_named_test_exists() -> None:
    existing = _test_functions()
    named = {name for names in (*SETTINGS_PROVEN_BY.values(), HEADERS_PROVEN_BY, *BEHAVIOURS_PROVEN_BY.values())
             for name in names}  # fmt: skip
    assert sorted(named - existing) == []


def test_readme_python_snippets_run_as_pasted(tmp_path: Path, openai_emulator: OpenAIEmulator) -> None:
    """Each Python block of the README, pasted into a script, runs against a gateway on its
    port (LLMstudio's blocks need LLMstudio's own packages: tests/test_llmstudio_client.py)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    ours = [block for block in blocks if "llmstudio" not in block]
    assert len(ours) == 4
    with served(tmp_path) as (port, _process):
        for block in ours:
            script = block.replace("localhost:8000", f"localhost:{port}")
            run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, f"{block}\n{run.stderr}"
            assert run.stdout.strip(), block
