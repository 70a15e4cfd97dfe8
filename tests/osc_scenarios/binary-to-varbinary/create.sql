drop table if exists gh_ost_test;
create table gh_ost_test (
  id int auto_increment,
  b binary(8) not null,
  nb binary(4) null,
  primary key (id)
) auto_increment = 1;

insert into gh_ost_test (b, nb) select substr(unhex(md5(seq)), 1, 1 + seq % 8), if(seq % 3, x'61', null) from seq_1_to_120;
insert into gh_ost_test (b, nb) values (x'00', x'00'), (x'0100', x'0000'), (x'6162630000000000', ''), ('', '');

drop event if exists gh_ost_test;
delimiter ;;
create event gh_ost_test
  on schedule every 1 second
  starts current_timestamp
  ends current_timestamp + interval 60 second
  on completion not preserve
  enable
  do
begin

  insert into gh_ost_test (b, nb) values (x'6100', 'z');
  insert into gh_ost_test (b, nb) values (substr(unhex(md5(rand())), 1, 3), x'7a00');
  set @id := (select id from gh_ost_test order by rand() limit 1);
  update gh_ost_test set b = x'4242', nb = x'00' where id = @id;
  set @del := (select id from gh_ost_test order by rand() limit 1);
  delete from gh_ost_test where id = @del;
end ;;
delimiter ;
