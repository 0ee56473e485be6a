import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SocketAuthenticator } from '../realtime/socket-authenticator';
import { UsersModule } from '../users/users.module';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { OtpCodeEntity } from './entities/otp-code.entity';
import { SessionEntity } from './entities/session.entity';
import { OtpBudgetsRepository } from './otp-budgets.repository';
import { OtpRepository } from './otp.repository';
import { OtpService } from './otp.service';
import { SessionGuard } from './session.guard';
import { SessionsRepository } from './sessions.repository';
import { SessionsService } from './sessions.service';
import { ExpiredAuthRecords } from './expired-auth-records';

/** Email OTP sign-in, sessions on every device, the global session guard and socket authentication. */
@Module({
  imports: [TypeOrmModule.forFeature([SessionEntity, OtpCodeEntity]), UsersModule],
  controllers: [AuthController],
  providers: [
    OtpRepository,
    OtpBudgetsRepository,
    SessionsRepository,
    OtpService,
    AuthService,
    SessionsService,
    ExpiredAuthRecords,
    { provide: SocketAuthenticator, useExisting: SessionsService },
    { provide: APP_GUARD, useClass: SessionGuard },
  ],
  exports: [SessionsService, OtpService],
})
export class AuthModule {}
