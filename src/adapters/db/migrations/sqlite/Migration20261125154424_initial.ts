import { Migration } from '@mikro-orm/migrations';

export class Migration20261125154424_initial extends Migration {

  override name = 'Migration20261125154424_initial';

  override up(): void | Promise<void> {
    this.addSql(`create table \`admin_users\` (\`id\` integer not null primary key autoincrement, \`email\` text not null, \`name\` text not null, \`password_hash\` text not null, \`disabled\` integer not null, \`last_login_at\` datetime null, \`created_at\` datetime not null, \`updated_at\` datetime not null);`);
    this.addSql(`create unique index \`admin_users_email_unique\` on \`admin_users\` (\`email\`);`);

    this.addSql(`create table \`admin_sessions\` (\`id\` text not null primary key, \`admin_id\` integer not null, \`expires_at\` datetime not null, \`created_at\` datetime not null, \`client_ip\` text null, \`user_agent\` text null, constraint \`admin_sessions_admin_id_foreign\` foreign key (\`admin_id\`) references \`admin_users\` (\`id\`) on delete cascade);`);
    this.addSql(`create index \`admin_sessions_admin_id_index\` on \`admin_sessions\` (\`admin_id\`);`);
    this.addSql(`create index \`admin_sessions_expires_at_index\` on \`admin_sessions\` (\`expires_at\`);`);

    this.addSql(`create table \`admin_api_tokens\` (\`id\` integer not null primary key autoincrement, \`name\` text not null, \`token_digest\` text not null, \`token_prefix\` text not null, \`scope\` text not null, \`created_by_id\` integer null, \`created_at\` datetime not null, \`last_used_at\` datetime null, \`revoked_at\` datetime null, constraint \`admin_api_tokens_created_by_id_foreign\` foreign key (\`created_by_id\`) references \`admin_users\` (\`id\`) on delete set null);`);
    this.addSql(`create unique index \`admin_api_tokens_token_digest_unique\` on \`admin_api_tokens\` (\`token_digest\`);`);
    this.addSql(`create index \`admin_api_tokens_created_by_id_index\` on \`admin_api_tokens\` (\`created_by_id\`);`);

    this.addSql(`create table \`audit_log\` (\`id\` integer not null primary key autoincrement, \`actor_type\` text not null, \`actor_id\` text null, \`actor_label\` text null, \`action\` text not null, \`target_type\` text null, \`target_id\` text null, \`details\` json null, \`client_ip\` text null, \`created_at\` datetime not null);`);
    this.addSql(`create index \`audit_log_action_index\` on \`audit_log\` (\`action\`);`);
    this.addSql(`create index \`audit_log_created_at_index\` on \`audit_log\` (\`created_at\`);`);

    this.addSql(`create table \`customers\` (\`id\` integer not null primary key autoincrement, \`email\` text not null, \`name\` text not null, \`company\` text null, \`notes\` text null, \`status\` text not null, \`created_at\` datetime not null, \`updated_at\` datetime not null);`);
    this.addSql(`create unique index \`customers_email_unique\` on \`customers\` (\`email\`);`);
    this.addSql(`create index \`customers_created_at_index\` on \`customers\` (\`created_at\`);`);

    this.addSql(`create table \`model_prices\` (\`id\` integer not null primary key autoincrement, \`provider\` text not null, \`model\` text not null, \`input_eur_per_mtok\` numeric(14,6) not null, \`output_eur_per_mtok\` numeric(14,6) not null, \`cached_input_eur_per_mtok\` numeric(14,6) not null, \`effective_from\` datetime not null, \`created_at\` datetime not null);`);
    this.addSql(`create unique index \`model_prices_provider_model_effective_from_unique\` on \`model_prices\` (\`provider\`, \`model\`, \`effective_from\`);`);

    this.addSql(`create table \`plans\` (\`id\` integer not null primary key autoincrement, \`name\` text not null, \`display_name\` text not null, \`price_eur\` numeric(10,2) not null, \`billing\` text not null, \`is_lifetime\` integer not null, \`lifetime_cap\` integer null, \`monthly_requests\` integer not null, \`requests_per_minute\` integer not null, \`requests_per_hour\` integer not null, \`monthly_budget_eur\` numeric(14,6) not null, \`max_sites\` integer not null, \`features\` json not null, \`ai_included\` integer not null, \`allowed_models\` json not null, \`default_provider\` text not null, \`fallback_provider\` text null, \`default_models\` json not null, \`max_tokens\` integer not null, \`active\` integer not null, \`created_at\` datetime not null, \`updated_at\` datetime not null);`);
    this.addSql(`create unique index \`plans_name_unique\` on \`plans\` (\`name\`);`);

    this.addSql(`create table \`licenses\` (\`id\` integer not null primary key autoincrement, \`key_digest\` text not null, \`key_sealed\` text not null, \`key_prefix\` text not null, \`customer_id\` integer not null, \`plan_id\` integer not null, \`status\` text not null, \`domain\` text null, \`expires_at\` datetime null, \`activated_at\` datetime null, \`last_validated_at\` datetime null, \`metadata\` json null, \`created_at\` datetime not null, \`updated_at\` datetime not null, constraint \`licenses_customer_id_foreign\` foreign key (\`customer_id\`) references \`customers\` (\`id\`) on delete cascade, constraint \`licenses_plan_id_foreign\` foreign key (\`plan_id\`) references \`plans\` (\`id\`) on delete restrict);`);
    this.addSql(`create unique index \`licenses_key_digest_unique\` on \`licenses\` (\`key_digest\`);`);
    this.addSql(`create index \`licenses_key_prefix_index\` on \`licenses\` (\`key_prefix\`);`);
    this.addSql(`create index \`licenses_customer_id_index\` on \`licenses\` (\`customer_id\`);`);
    this.addSql(`create index \`licenses_plan_id_index\` on \`licenses\` (\`plan_id\`);`);
    this.addSql(`create index \`licenses_created_at_index\` on \`licenses\` (\`created_at\`);`);
    this.addSql(`create index \`licenses_status_expires_at_index\` on \`licenses\` (\`status\`, \`expires_at\`);`);

    this.addSql(`create table \`processed_webhook_events\` (\`id\` integer not null primary key autoincrement, \`source\` text not null, \`event_id\` text not null, \`event_type\` text not null, \`outcome\` text not null, \`details\` json null, \`received_at\` datetime not null);`);
    this.addSql(`create index \`processed_webhook_events_received_at_index\` on \`processed_webhook_events\` (\`received_at\`);`);
    this.addSql(`create unique index \`processed_webhook_events_source_event_id_unique\` on \`processed_webhook_events\` (\`source\`, \`event_id\`);`);

    this.addSql(`create table \`provider_keys\` (\`id\` integer not null primary key autoincrement, \`owner\` text not null, \`customer_id\` integer null, \`provider\` text not null, \`key_sealed\` text not null, \`last4\` text not null, \`base_url\` text null, \`created_at\` datetime not null, \`updated_at\` datetime not null, constraint \`provider_keys_customer_id_foreign\` foreign key (\`customer_id\`) references \`customers\` (\`id\`) on delete cascade);`);
    this.addSql(`create index \`provider_keys_customer_id_index\` on \`provider_keys\` (\`customer_id\`);`);
    this.addSql(`create unique index \`provider_keys_owner_provider_unique\` on \`provider_keys\` (\`owner\`, \`provider\`);`);

    this.addSql(`create table \`quota_counters\` (\`id\` integer not null primary key autoincrement, \`license_id\` integer not null, \`period\` text not null, \`period_start\` datetime not null, \`requests\` integer not null, \`tokens\` bigint not null, \`cost_eur\` numeric(14,6) not null, \`updated_at\` datetime not null, constraint \`quota_counters_license_id_foreign\` foreign key (\`license_id\`) references \`licenses\` (\`id\`) on delete cascade);`);
    this.addSql(`create index \`quota_counters_license_id_index\` on \`quota_counters\` (\`license_id\`);`);
    this.addSql(`create unique index \`quota_counters_license_id_period_period_start_unique\` on \`quota_counters\` (\`license_id\`, \`period\`, \`period_start\`);`);

    this.addSql(`create table \`quota_reservations\` (\`id\` integer not null primary key autoincrement, \`license_id\` integer not null, \`created_at\` datetime not null, \`estimate_cost_eur\` numeric(14,6) not null, \`expires_at\` datetime not null, constraint \`quota_reservations_license_id_foreign\` foreign key (\`license_id\`) references \`licenses\` (\`id\`) on delete cascade);`);
    this.addSql(`create index \`quota_reservations_license_id_index\` on \`quota_reservations\` (\`license_id\`);`);
    this.addSql(`create index \`quota_reservations_expires_at_index\` on \`quota_reservations\` (\`expires_at\`);`);

    this.addSql(`create table \`site_activations\` (\`id\` integer not null primary key autoincrement, \`license_id\` integer not null, \`host\` text not null, \`exempt\` integer not null, \`activated_at\` datetime not null, \`deactivated_at\` datetime null, constraint \`site_activations_license_id_foreign\` foreign key (\`license_id\`) references \`licenses\` (\`id\`) on delete cascade);`);
    this.addSql(`create index \`site_activations_license_id_index\` on \`site_activations\` (\`license_id\`);`);
    this.addSql(`create unique index \`site_activations_license_id_host_unique\` on \`site_activations\` (\`license_id\`, \`host\`);`);

    this.addSql(`create table \`throttle_buckets\` (\`bucket\` text not null primary key, \`window_start\` datetime not null, \`hits\` integer not null, \`expires_at\` datetime not null);`);
    this.addSql(`create index \`throttle_buckets_expires_at_index\` on \`throttle_buckets\` (\`expires_at\`);`);

    this.addSql(`create table \`usage_daily\` (\`id\` integer not null primary key autoincrement, \`license_id\` integer not null, \`day\` text not null, \`provider\` text not null, \`model\` text not null, \`endpoint\` text not null, \`requests\` integer not null, \`errors\` integer not null, \`prompt_tokens\` bigint not null, \`completion_tokens\` bigint not null, \`cached_tokens\` bigint not null, \`cost_eur\` numeric(14,6) not null, \`total_ms_sum\` bigint not null, \`upstream_ms_sum\` bigint not null, \`updated_at\` datetime not null, constraint \`usage_daily_license_id_foreign\` foreign key (\`license_id\`) references \`licenses\` (\`id\`) on delete cascade);`);
    this.addSql(`create index \`usage_daily_license_id_index\` on \`usage_daily\` (\`license_id\`);`);
    this.addSql(`create index \`usage_daily_day_index\` on \`usage_daily\` (\`day\`);`);
    this.addSql(`create unique index \`usage_daily_license_id_day_provider_model_endpoint_unique\` on \`usage_daily\` (\`license_id\`, \`day\`, \`provider\`, \`model\`, \`endpoint\`);`);

    this.addSql(`create table \`usage_events\` (\`id\` integer not null primary key autoincrement, \`license_id\` integer not null, \`customer_id\` integer null, \`provider\` text not null, \`model\` text not null, \`endpoint\` text not null, \`prompt_tokens\` integer not null, \`completion_tokens\` integer not null, \`cached_tokens\` integer not null, \`cost_eur\` numeric(14,6) not null, \`price_snapshot\` json null, \`estimated\` integer not null, \`byok\` integer not null, \`upstream_ms\` integer null, \`total_ms\` integer not null, \`outcome\` text not null, \`error_code\` text null, \`client_ip\` text null, \`user_agent\` text null, \`created_at\` datetime not null, constraint \`usage_events_license_id_foreign\` foreign key (\`license_id\`) references \`licenses\` (\`id\`) on delete cascade);`);
    this.addSql(`create index \`usage_events_license_id_index\` on \`usage_events\` (\`license_id\`);`);
    this.addSql(`create index \`usage_events_created_at_index\` on \`usage_events\` (\`created_at\`);`);
    this.addSql(`create index \`usage_events_license_id_created_at_index\` on \`usage_events\` (\`license_id\`, \`created_at\`);`);
  }

  override down(): void | Promise<void> {

    this.addSql(`drop table if exists \`admin_users\`;`);
    this.addSql(`drop table if exists \`admin_sessions\`;`);
    this.addSql(`drop table if exists \`admin_api_tokens\`;`);
    this.addSql(`drop table if exists \`audit_log\`;`);
    this.addSql(`drop table if exists \`customers\`;`);
    this.addSql(`drop table if exists \`model_prices\`;`);
    this.addSql(`drop table if exists \`plans\`;`);
    this.addSql(`drop table if exists \`licenses\`;`);
    this.addSql(`drop table if exists \`processed_webhook_events\`;`);
    this.addSql(`drop table if exists \`provider_keys\`;`);
    this.addSql(`drop table if exists \`quota_counters\`;`);
    this.addSql(`drop table if exists \`quota_reservations\`;`);
    this.addSql(`drop table if exists \`site_activations\`;`);
    this.addSql(`drop table if exists \`throttle_buckets\`;`);
    this.addSql(`drop table if exists \`usage_daily\`;`);
    this.addSql(`drop table if exists \`usage_events\`;`);
  }

}
