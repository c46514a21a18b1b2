import { Migration } from '@mikro-orm/migrations';

export class Migration20261125154424_initial extends Migration {

  override name = 'Migration20261125154424_initial';

  override up(): void | Promise<void> {
    this.addSql(`create table \`admin_users\` (\`id\` int unsigned not null auto_increment primary key, \`email\` varchar(254) not null, \`name\` varchar(200) not null, \`password_hash\` varchar(255) not null, \`disabled\` tinyint(1) not null, \`last_login_at\` datetime(3) null, \`created_at\` datetime(3) not null, \`updated_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`admin_users\` add unique \`admin_users_email_unique\` (\`email\`);`);

    this.addSql(`create table \`admin_sessions\` (\`id\` varchar(64) not null, \`admin_id\` int unsigned not null, \`expires_at\` datetime(3) not null, \`created_at\` datetime(3) not null, \`client_ip\` varchar(64) null, \`user_agent\` varchar(255) null, primary key (\`id\`)) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`admin_sessions\` add index \`admin_sessions_admin_id_index\` (\`admin_id\`);`);
    this.addSql(`alter table \`admin_sessions\` add index \`admin_sessions_expires_at_index\` (\`expires_at\`);`);

    this.addSql(`create table \`admin_api_tokens\` (\`id\` int unsigned not null auto_increment primary key, \`name\` varchar(100) not null, \`token_digest\` varchar(64) not null, \`token_prefix\` varchar(16) not null, \`scope\` varchar(8) not null, \`created_by_id\` int unsigned null, \`created_at\` datetime(3) not null, \`last_used_at\` datetime(3) null, \`revoked_at\` datetime(3) null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`admin_api_tokens\` add unique \`admin_api_tokens_token_digest_unique\` (\`token_digest\`);`);
    this.addSql(`alter table \`admin_api_tokens\` add index \`admin_api_tokens_created_by_id_index\` (\`created_by_id\`);`);

    this.addSql(`create table \`audit_log\` (\`id\` int unsigned not null auto_increment primary key, \`actor_type\` varchar(16) not null, \`actor_id\` varchar(64) null, \`actor_label\` varchar(254) null, \`action\` varchar(64) not null, \`target_type\` varchar(32) null, \`target_id\` varchar(64) null, \`details\` json null, \`client_ip\` varchar(64) null, \`created_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`audit_log\` add index \`audit_log_action_index\` (\`action\`);`);
    this.addSql(`alter table \`audit_log\` add index \`audit_log_created_at_index\` (\`created_at\`);`);

    this.addSql(`create table \`customers\` (\`id\` int unsigned not null auto_increment primary key, \`email\` varchar(254) not null, \`name\` varchar(200) not null, \`company\` varchar(200) null, \`notes\` text null, \`status\` varchar(16) not null, \`created_at\` datetime(3) not null, \`updated_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`customers\` add unique \`customers_email_unique\` (\`email\`);`);
    this.addSql(`alter table \`customers\` add index \`customers_created_at_index\` (\`created_at\`);`);

    this.addSql(`create table \`model_prices\` (\`id\` int unsigned not null auto_increment primary key, \`provider\` varchar(16) not null, \`model\` varchar(100) not null, \`input_eur_per_mtok\` numeric(14,6) not null, \`output_eur_per_mtok\` numeric(14,6) not null, \`cached_input_eur_per_mtok\` numeric(14,6) not null, \`effective_from\` datetime(3) not null, \`created_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`model_prices\` add unique \`model_prices_provider_model_effective_from_unique\` (\`provider\`, \`model\`, \`effective_from\`);`);

    this.addSql(`create table \`plans\` (\`id\` int unsigned not null auto_increment primary key, \`name\` varchar(32) not null, \`display_name\` varchar(100) not null, \`price_eur\` numeric(10,2) not null, \`billing\` varchar(16) not null, \`is_lifetime\` tinyint(1) not null, \`lifetime_cap\` int null, \`monthly_requests\` int not null, \`requests_per_minute\` int not null, \`requests_per_hour\` int not null, \`monthly_budget_eur\` numeric(14,6) not null, \`max_sites\` int not null, \`features\` json not null, \`ai_included\` tinyint(1) not null, \`allowed_models\` json not null, \`default_provider\` varchar(16) not null, \`fallback_provider\` varchar(16) null, \`default_models\` json not null, \`max_tokens\` int not null, \`active\` tinyint(1) not null, \`created_at\` datetime(3) not null, \`updated_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`plans\` add unique \`plans_name_unique\` (\`name\`);`);

    this.addSql(`create table \`licenses\` (\`id\` int unsigned not null auto_increment primary key, \`key_digest\` varchar(64) not null, \`key_sealed\` text not null, \`key_prefix\` varchar(16) not null, \`customer_id\` int unsigned not null, \`plan_id\` int unsigned not null, \`status\` varchar(16) not null, \`domain\` varchar(253) null, \`expires_at\` datetime(3) null, \`activated_at\` datetime(3) null, \`last_validated_at\` datetime(3) null, \`metadata\` json null, \`created_at\` datetime(3) not null, \`updated_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`licenses\` add unique \`licenses_key_digest_unique\` (\`key_digest\`);`);
    this.addSql(`alter table \`licenses\` add index \`licenses_key_prefix_index\` (\`key_prefix\`);`);
    this.addSql(`alter table \`licenses\` add index \`licenses_customer_id_index\` (\`customer_id\`);`);
    this.addSql(`alter table \`licenses\` add index \`licenses_plan_id_index\` (\`plan_id\`);`);
    this.addSql(`alter table \`licenses\` add index \`licenses_created_at_index\` (\`created_at\`);`);
    this.addSql(`alter table \`licenses\` add index \`licenses_status_expires_at_index\` (\`status\`, \`expires_at\`);`);

    this.addSql(`create table \`processed_webhook_events\` (\`id\` int unsigned not null auto_increment primary key, \`source\` varchar(32) not null, \`event_id\` varchar(128) not null, \`event_type\` varchar(64) not null, \`outcome\` varchar(32) not null, \`details\` json null, \`received_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`processed_webhook_events\` add index \`processed_webhook_events_received_at_index\` (\`received_at\`);`);
    this.addSql(`alter table \`processed_webhook_events\` add unique \`processed_webhook_events_source_event_id_unique\` (\`source\`, \`event_id\`);`);

    this.addSql(`create table \`provider_keys\` (\`id\` int unsigned not null auto_increment primary key, \`owner\` varchar(32) not null, \`customer_id\` int unsigned null, \`provider\` varchar(16) not null, \`key_sealed\` text not null, \`last4\` varchar(4) not null, \`base_url\` varchar(255) null, \`created_at\` datetime(3) not null, \`updated_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`provider_keys\` add index \`provider_keys_customer_id_index\` (\`customer_id\`);`);
    this.addSql(`alter table \`provider_keys\` add unique \`provider_keys_owner_provider_unique\` (\`owner\`, \`provider\`);`);

    this.addSql(`create table \`quota_counters\` (\`id\` int unsigned not null auto_increment primary key, \`license_id\` int unsigned not null, \`period\` varchar(8) not null, \`period_start\` datetime(3) not null, \`requests\` int not null, \`tokens\` bigint not null, \`cost_eur\` numeric(14,6) not null, \`updated_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`quota_counters\` add index \`quota_counters_license_id_index\` (\`license_id\`);`);
    this.addSql(`alter table \`quota_counters\` add unique \`quota_counters_license_id_period_period_start_unique\` (\`license_id\`, \`period\`, \`period_start\`);`);

    this.addSql(`create table \`quota_reservations\` (\`id\` int unsigned not null auto_increment primary key, \`license_id\` int unsigned not null, \`created_at\` datetime(3) not null, \`estimate_cost_eur\` numeric(14,6) not null, \`expires_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`quota_reservations\` add index \`quota_reservations_license_id_index\` (\`license_id\`);`);
    this.addSql(`alter table \`quota_reservations\` add index \`quota_reservations_expires_at_index\` (\`expires_at\`);`);

    this.addSql(`create table \`site_activations\` (\`id\` int unsigned not null auto_increment primary key, \`license_id\` int unsigned not null, \`host\` varchar(253) not null, \`exempt\` tinyint(1) not null, \`activated_at\` datetime(3) not null, \`deactivated_at\` datetime(3) null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`site_activations\` add index \`site_activations_license_id_index\` (\`license_id\`);`);
    this.addSql(`alter table \`site_activations\` add unique \`site_activations_license_id_host_unique\` (\`license_id\`, \`host\`);`);

    this.addSql(`create table \`throttle_buckets\` (\`bucket\` varchar(191) not null, \`window_start\` datetime(3) not null, \`hits\` int not null, \`expires_at\` datetime(3) not null, primary key (\`bucket\`)) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`throttle_buckets\` add index \`throttle_buckets_expires_at_index\` (\`expires_at\`);`);

    this.addSql(`create table \`usage_daily\` (\`id\` int unsigned not null auto_increment primary key, \`license_id\` int unsigned not null, \`day\` varchar(10) not null, \`provider\` varchar(16) not null, \`model\` varchar(100) not null, \`endpoint\` varchar(32) not null, \`requests\` int not null, \`errors\` int not null, \`prompt_tokens\` bigint not null, \`completion_tokens\` bigint not null, \`cached_tokens\` bigint not null, \`cost_eur\` numeric(14,6) not null, \`total_ms_sum\` bigint not null, \`upstream_ms_sum\` bigint not null, \`updated_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`usage_daily\` add index \`usage_daily_license_id_index\` (\`license_id\`);`);
    this.addSql(`alter table \`usage_daily\` add index \`usage_daily_day_index\` (\`day\`);`);
    this.addSql(`alter table \`usage_daily\` add unique \`usage_daily_license_id_day_provider_model_endpoint_unique\` (\`license_id\`, \`day\`, \`provider\`, \`model\`, \`endpoint\`);`);

    this.addSql(`create table \`usage_events\` (\`id\` int unsigned not null auto_increment primary key, \`license_id\` int unsigned not null, \`customer_id\` int null, \`provider\` varchar(16) not null, \`model\` varchar(100) not null, \`endpoint\` varchar(32) not null, \`prompt_tokens\` int not null, \`completion_tokens\` int not null, \`cached_tokens\` int not null, \`cost_eur\` numeric(14,6) not null, \`price_snapshot\` json null, \`estimated\` tinyint(1) not null, \`byok\` tinyint(1) not null, \`upstream_ms\` int null, \`total_ms\` int not null, \`outcome\` varchar(16) not null, \`error_code\` varchar(64) null, \`client_ip\` varchar(64) null, \`user_agent\` varchar(255) null, \`created_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`usage_events\` add index \`usage_events_license_id_index\` (\`license_id\`);`);
    this.addSql(`alter table \`usage_events\` add index \`usage_events_created_at_index\` (\`created_at\`);`);
    this.addSql(`alter table \`usage_events\` add index \`usage_events_license_id_created_at_index\` (\`license_id\`, \`created_at\`);`);

    this.addSql(`alter table \`admin_sessions\` add constraint \`admin_sessions_admin_id_foreign\` foreign key (\`admin_id\`) references \`admin_users\` (\`id\`) on delete cascade;`);

    this.addSql(`alter table \`admin_api_tokens\` add constraint \`admin_api_tokens_created_by_id_foreign\` foreign key (\`created_by_id\`) references \`admin_users\` (\`id\`) on delete set null;`);

    this.addSql(`alter table \`licenses\` add constraint \`licenses_customer_id_foreign\` foreign key (\`customer_id\`) references \`customers\` (\`id\`) on delete cascade;`);
    this.addSql(`alter table \`licenses\` add constraint \`licenses_plan_id_foreign\` foreign key (\`plan_id\`) references \`plans\` (\`id\`) on delete restrict;`);

    this.addSql(`alter table \`provider_keys\` add constraint \`provider_keys_customer_id_foreign\` foreign key (\`customer_id\`) references \`customers\` (\`id\`) on delete cascade;`);

    this.addSql(`alter table \`quota_counters\` add constraint \`quota_counters_license_id_foreign\` foreign key (\`license_id\`) references \`licenses\` (\`id\`) on delete cascade;`);

    this.addSql(`alter table \`quota_reservations\` add constraint \`quota_reservations_license_id_foreign\` foreign key (\`license_id\`) references \`licenses\` (\`id\`) on delete cascade;`);

    this.addSql(`alter table \`site_activations\` add constraint \`site_activations_license_id_foreign\` foreign key (\`license_id\`) references \`licenses\` (\`id\`) on delete cascade;`);

    this.addSql(`alter table \`usage_daily\` add constraint \`usage_daily_license_id_foreign\` foreign key (\`license_id\`) references \`licenses\` (\`id\`) on delete cascade;`);

    this.addSql(`alter table \`usage_events\` add constraint \`usage_events_license_id_foreign\` foreign key (\`license_id\`) references \`licenses\` (\`id\`) on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table \`admin_sessions\` drop foreign key \`admin_sessions_admin_id_foreign\`;`);
    this.addSql(`alter table \`admin_api_tokens\` drop foreign key \`admin_api_tokens_created_by_id_foreign\`;`);
    this.addSql(`alter table \`licenses\` drop foreign key \`licenses_customer_id_foreign\`;`);
    this.addSql(`alter table \`provider_keys\` drop foreign key \`provider_keys_customer_id_foreign\`;`);
    this.addSql(`alter table \`licenses\` drop foreign key \`licenses_plan_id_foreign\`;`);
    this.addSql(`alter table \`quota_counters\` drop foreign key \`quota_counters_license_id_foreign\`;`);
    this.addSql(`alter table \`quota_reservations\` drop foreign key \`quota_reservations_license_id_foreign\`;`);
    this.addSql(`alter table \`site_activations\` drop foreign key \`site_activations_license_id_foreign\`;`);
    this.addSql(`alter table \`usage_daily\` drop foreign key \`usage_daily_license_id_foreign\`;`);
    this.addSql(`alter table \`usage_events\` drop foreign key \`usage_events_license_id_foreign\`;`);

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
