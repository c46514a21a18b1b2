import { Migration } from '@mikro-orm/migrations';

export class Migration20261125170822_payments_mail_jobs_webhooks extends Migration {

  override name = 'Migration20261125170822_payments_mail_jobs_webhooks';

  override up(): void | Promise<void> {
    this.addSql(`create table \`job_leases\` (\`job\` varchar(64) not null, \`holder\` varchar(64) null, \`lease_until\` datetime(3) not null, \`last_started_at\` datetime(3) null, \`last_finished_at\` datetime(3) null, \`last_outcome\` varchar(16) null, \`last_details\` json null, primary key (\`job\`)) default character set utf8mb4 engine = InnoDB;`);

    this.addSql(`create table \`mail_outbox\` (\`id\` int unsigned not null auto_increment primary key, \`dedupe_key\` varchar(191) not null, \`kind\` varchar(48) not null, \`recipient\` varchar(254) not null, \`subject\` varchar(255) not null, \`text_body\` text not null, \`html_body\` text not null, \`status\` varchar(16) not null, \`attempts\` int not null, \`next_attempt_at\` datetime(3) not null, \`last_error\` varchar(255) null, \`created_at\` datetime(3) not null, \`sent_at\` datetime(3) null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`mail_outbox\` add unique \`mail_outbox_dedupe_key_unique\` (\`dedupe_key\`);`);
    this.addSql(`alter table \`mail_outbox\` add index \`mail_outbox_status_index\` (\`status\`);`);
    this.addSql(`alter table \`mail_outbox\` add index \`mail_outbox_next_attempt_at_index\` (\`next_attempt_at\`);`);

    this.addSql(`create table \`webhook_endpoints\` (\`id\` int unsigned not null auto_increment primary key, \`url\` varchar(2048) not null, \`events\` json not null, \`secret_sealed\` text not null, \`paused\` tinyint(1) not null, \`description\` varchar(255) null, \`created_at\` datetime(3) not null, \`updated_at\` datetime(3) not null) default character set utf8mb4 engine = InnoDB;`);

    this.addSql(`create table \`webhook_deliveries\` (\`id\` int unsigned not null auto_increment primary key, \`endpoint_id\` int unsigned not null, \`event_id\` varchar(64) not null, \`event_type\` varchar(48) not null, \`payload\` json not null, \`status\` varchar(16) not null, \`attempts\` int not null, \`next_attempt_at\` datetime(3) not null, \`last_status_code\` int null, \`last_error\` varchar(255) null, \`created_at\` datetime(3) not null, \`delivered_at\` datetime(3) null) default character set utf8mb4 engine = InnoDB;`);
    this.addSql(`alter table \`webhook_deliveries\` add index \`webhook_deliveries_endpoint_id_index\` (\`endpoint_id\`);`);
    this.addSql(`alter table \`webhook_deliveries\` add index \`webhook_deliveries_status_index\` (\`status\`);`);
    this.addSql(`alter table \`webhook_deliveries\` add index \`webhook_deliveries_next_attempt_at_index\` (\`next_attempt_at\`);`);
    this.addSql(`alter table \`webhook_deliveries\` add unique \`webhook_deliveries_endpoint_id_event_id_unique\` (\`endpoint_id\`, \`event_id\`);`);

    this.addSql(`alter table \`plans\` add \`paddle_prices\` json null;`);

    this.addSql(`alter table \`webhook_deliveries\` add constraint \`webhook_deliveries_endpoint_id_foreign\` foreign key (\`endpoint_id\`) references \`webhook_endpoints\` (\`id\`) on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table \`webhook_deliveries\` drop foreign key \`webhook_deliveries_endpoint_id_foreign\`;`);

    this.addSql(`drop table if exists \`job_leases\`;`);
    this.addSql(`drop table if exists \`mail_outbox\`;`);
    this.addSql(`drop table if exists \`webhook_endpoints\`;`);
    this.addSql(`drop table if exists \`webhook_deliveries\`;`);

    this.addSql(`alter table \`plans\` drop column \`paddle_prices\`;`);
  }

}
